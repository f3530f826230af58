//! `depthwise_conv2d`: Keras `DepthwiseConv2D`. It is a grouped convolution
//! with one group per input channel and `depth_multiplier` filters each: its
//! shape rule and geometry are `conv2d`'s, resolved once the input's channel
//! count is known, but it runs on the runtime's own depthwise kernel
//! (`ops::depthwise_conv2d`, channels in SIMD lanes), which reads Keras's
//! `[kh, kw, in, depth_multiplier]` kernel as stored and supports every
//! output layout and epilogue the grouped conv does.

use super::conv2d::Conv2d;
use super::*;

pub static DEF: OpDef = OpDef {
    name: "depthwise_conv2d",
    params: &[
        Param::tensor("x"),
        Param::required("kernel_size"),
        Param::optional("strides"),
        Param::optional("padding"),
        Param::optional("depth_multiplier"),
        Param::optional("dilation_rate"),
        Param::optional("activation"),
        Param::optional("use_bias"),
    ],
    has_weights: true,
    build,
};

pub struct Depthwise {
    depth_multiplier: usize,
    /// `filters` and `groups` are filled in per input by [`Depthwise::conv`].
    base: Conv2d,
    /// Lowered from a `conv2d` with one input channel per group
    /// ([`Depthwise::of_grouped_conv`]): its kernel is Conv2D's
    /// `[kh, kw, 1, filters]`, the same floats in the same order as
    /// DepthwiseConv2D's `[kh, kw, in, depth_multiplier]` (filter
    /// `c * depth_multiplier + m` reads input channel `c` in both).
    conv_kernel: bool,
}

fn build(v: &Values) -> syn::Result<Box<dyn Op>> {
    // `filters` and `groups` are set per input by `conv`.
    let base = Conv2d::from_args(v, "depthwise_conv2d", 1, 1, v.activation()?)?;
    Ok(Box::new(Depthwise {
        depth_multiplier: v.positive("depth_multiplier", Some(1))?,
        base,
        conv_kernel: false,
    }))
}

impl Depthwise {
    /// `conv` (groups equal to its `cin` input channels) as the depthwise
    /// conv it is (`Conv2d::lowered`).
    pub(super) fn of_grouped_conv(conv: &Conv2d, cin: usize) -> Depthwise {
        Depthwise {
            depth_multiplier: conv.filters / cin.max(1),
            base: conv.clone(),
            conv_kernel: true,
        }
    }

    /// The grouped conv this is on an input of `cin` channels.
    fn conv(&self, cin: usize) -> Conv2d {
        self.base.depthwise_on(cin, self.depth_multiplier)
    }

    fn cin(shapes: &[&[usize]]) -> usize {
        shapes.first().and_then(|s| s.get(2)).copied().unwrap_or(1)
    }
}

impl Op for Depthwise {
    fn infer(&self, ops: &[Operand]) -> Result<Vec<usize>, OpError> {
        let (_, _, c) = expect_hwc("depthwise_conv2d", 0, &ops[0])?;
        if c.checked_mul(self.depth_multiplier)
            .is_none_or(|f| f > crate::limits::MAX_ELEMENTS)
        {
            return op_err(
                Blame::Arg("depth_multiplier"),
                "`depthwise_conv2d` output channels (input channels x depth_multiplier) overflow",
            );
        }
        self.conv(c).infer(ops)
    }

    fn weights(&self, ins: &[&[usize]]) -> Vec<WeightSpec> {
        let cin = Self::cin(ins);
        let (kh, kw) = self.base.kernel;
        let shape = match self.conv_kernel {
            true => vec![kh, kw, 1, cin * self.depth_multiplier],
            false => vec![kh, kw, cin, self.depth_multiplier],
        };
        let mut w = vec![WeightSpec {
            var: "kernel",
            shape,
        }];
        if self.base.use_bias {
            w.push(WeightSpec {
                var: "bias",
                shape: vec![cin * self.depth_multiplier],
            });
        }
        w
    }

    fn geometry(
        &self,
        rt: &TokenStream,
        in_shapes: &[Vec<usize>],
        out_shape: &[usize],
        view: InputView,
    ) -> Option<(TokenStream, TokenStream)> {
        let cin = in_shapes.first()?.get(2).copied()?;
        Op::geometry(&self.conv(cin), rt, in_shapes, out_shape, view)
    }

    fn reads_upsampled_input(&self) -> bool {
        true
    }

    fn reads_padded_input(&self) -> bool {
        true
    }

    fn accepts_residual(&self) -> bool {
        self.base.accepts_residual()
    }

    fn folds_batch_norm(&self) -> bool {
        self.base.folds_batch_norm()
    }

    fn writes_strided(&self) -> bool {
        self.base.writes_strided()
    }

    fn adds_in_place(&self, in_shapes: &[&[usize]]) -> bool {
        self.conv(Self::cin(in_shapes)).adds_in_place(in_shapes)
    }

    fn packing(&self, var: &str, rt: &TokenStream, geom: &TokenStream) -> Option<Packing> {
        (var == "kernel").then(|| packing(rt, geom))
    }

    fn pack_now(
        &self,
        var: &str,
        raw: &[f32],
        in_shapes: &[Vec<usize>],
        out_shape: &[usize],
        view: InputView,
    ) -> Option<Vec<f32>> {
        if var != "kernel" {
            return None;
        }
        let cin = in_shapes.first()?.get(2).copied()?;
        pack_now(&self.conv(cin), raw, in_shapes.first()?, out_shape, view)
    }

    fn emit(&self, cx: &EmitCtx) -> TokenStream {
        let (rt, geom) = (cx.rt, cx.geom);
        let x = &cx.inputs[0];
        let out = cx.out;
        let kernel = &cx.weights[0];
        let bias = match cx.weights.get(1) {
            Some(b) => quote!(::core::option::Option::Some(#b)),
            None => quote!(::core::option::Option::None),
        };
        let r = cx.residuals;
        let post = cx.post.tokens(rt);
        let dw = quote!(#rt::ops::depthwise_conv2d);
        if let Some((stride, offset)) = cx.out_layout {
            return quote!(#dw::depthwise_conv2d_into(__exec, &#geom, #x, #kernel, #bias, #stride, #offset, #out););
        }
        if cx.in_place {
            // The depthwise kernel makes one pass: any activation may be
            // followed by the in-place add (no `can_add_in_place` check).
            quote!(#dw::depthwise_conv2d_add_in_place(__exec, &#geom, #x, #kernel, #bias, &[#(#r),*], #post, #out);)
        } else if r.is_empty() && cx.post == Act::Linear {
            let cin = cx
                .in_shapes
                .first()
                .and_then(|s| s.get(2))
                .copied()
                .unwrap_or(1);
            let after =
                self.base
                    .activation
                    .after(rt, cin.saturating_mul(self.depth_multiplier), out);
            quote! {
                #dw::depthwise_conv2d(__exec, &#geom, #x, #kernel, #bias, #out);
                #after
            }
        } else {
            quote!(#dw::depthwise_conv2d_add(__exec, &#geom, #x, #kernel, #bias, &[#(#r),*], #post, #out);)
        }
    }

    fn describe(&self) -> String {
        let mut d = self.base.describe();
        if self.conv_kernel {
            // `base` says `g<groups>`: the depthwise kernel runs it.
            return d + " as depthwise";
        }
        if self.depth_multiplier != 1 {
            d += &format!(" x{}", self.depth_multiplier);
        }
        d
    }
}

/// How a depthwise kernel is stored (`geom`: the layer's `Conv2dGeom`
/// constant): the runtime depthwise kernel's layout (Keras's, copied).
pub(super) fn packing(rt: &TokenStream, geom: &TokenStream) -> Packing {
    Packing {
        len: quote!(#rt::ops::depthwise_conv2d::packed_kernel_len(&#geom)),
        pack: quote!(|raw: &[f32], packed: &mut [f32]| #rt::ops::depthwise_conv2d::pack_kernel(&#geom, raw, packed)),
    }
}

/// The stored form of depthwise kernel `raw` for `conv` (the grouped conv of
/// the layer) from an input of shape `in_shape`, computed now by the
/// runtime's own packing code (for `#[weights]` baking).
pub(super) fn pack_now(
    conv: &Conv2d,
    raw: &[f32],
    in_shape: &[usize],
    out_shape: &[usize],
    view: InputView,
) -> Option<Vec<f32>> {
    use skipnet_runtime::ops::depthwise_conv2d;
    // The same value `geometry` emits as tokens for the run-time path.
    let g = conv.runtime_geom(&[in_shape.to_vec()], out_shape, view)?;
    if raw.len() != depthwise_conv2d::packed_kernel_len(&g) {
        return None;
    }
    let mut packed = vec![0.0; depthwise_conv2d::packed_kernel_len(&g)];
    depthwise_conv2d::pack_kernel(&g, raw, &mut packed);
    Some(packed)
}
