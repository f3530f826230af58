//! `separable_conv2d`: Keras `SeparableConv2D`, a depthwise conv (no bias, no
//! activation; the runtime's depthwise kernel) then a 1x1 conv with the bias
//! and activation. Two kernel calls:
//! the depthwise result lives in scratch memory the planner places in the
//! arena for this step only. Weights `depthwise_kernel` `[kh, kw, in, dm]`,
//! `pointwise_kernel` `[1, 1, in * dm, filters]`, `bias`.

use super::conv2d::Conv2d;
use super::*;

pub static DEF: OpDef = OpDef {
    name: "separable_conv2d",
    params: &[
        Param::tensor("x"),
        Param::required("filters"),
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

pub struct Separable {
    depth_multiplier: usize,
    /// The depthwise part (`filters`/`groups` set per input by `parts`).
    depthwise: Conv2d,
    /// The pointwise part: 1x1, with the layer's filters, bias and activation.
    pointwise: Conv2d,
}

fn build(v: &Values) -> syn::Result<Box<dyn Op>> {
    let depthwise = Conv2d {
        // The depthwise part has no bias and no activation of its own.
        use_bias: false,
        ..Conv2d::from_args(v, "separable_conv2d", 1, 1, Act::Linear)?
    };
    let pointwise = Conv2d {
        name: "separable_conv2d",
        filters: v.positive("filters", None)?,
        kernel: (1, 1),
        strides: (1, 1),
        same: false,
        dilation: (1, 1),
        groups: 1,
        activation: v.activation()?,
        use_bias: v.boolean("use_bias", true)?,
        // A 1x1 conv: Winograd never applies.
        winograd_allowed: false,
        winograd_f4: false,
        winograd_wide: false,
        quantized: false,
        dense_kernel: false,
    };
    Ok(Box::new(Separable {
        depth_multiplier: v.positive("depth_multiplier", Some(1))?,
        depthwise,
        pointwise,
    }))
}

impl Separable {
    /// The two convs on an input of `cin` channels.
    fn parts(&self, cin: usize) -> (Conv2d, &Conv2d) {
        (
            self.depthwise.depthwise_on(cin, self.depth_multiplier),
            &self.pointwise,
        )
    }

    /// The depthwise result's shape, `[oh, ow, in * dm]`.
    fn mid_shape(&self, in_shape: &[usize], out_shape: &[usize]) -> Vec<usize> {
        let cin = in_shape.get(2).copied().unwrap_or(0);
        vec![
            out_shape.first().copied().unwrap_or(0),
            out_shape.get(1).copied().unwrap_or(0),
            cin.saturating_mul(self.depth_multiplier),
        ]
    }
}

impl Op for Separable {
    fn infer(&self, ops: &[Operand]) -> Result<Vec<usize>, OpError> {
        let (_, _, c) = expect_hwc("separable_conv2d", 0, &ops[0])?;
        if c.checked_mul(self.depth_multiplier)
            .is_none_or(|f| f > crate::limits::MAX_ELEMENTS)
        {
            return op_err(
                Blame::Arg("depth_multiplier"),
                "`separable_conv2d` depthwise channels (input channels x depth_multiplier) overflow",
            );
        }
        let (dw, _) = self.parts(c);
        let mid = dw.infer(ops)?;
        Ok(vec![mid[0], mid[1], self.pointwise.filters])
    }

    fn weights(&self, ins: &[&[usize]]) -> Vec<WeightSpec> {
        let cin = ins[0].get(2).copied().unwrap_or(0);
        let (kh, kw) = self.depthwise.kernel;
        let mid = cin * self.depth_multiplier;
        let mut w = vec![
            WeightSpec {
                var: "depthwise_kernel",
                shape: vec![kh, kw, cin, self.depth_multiplier],
            },
            WeightSpec {
                var: "pointwise_kernel",
                shape: vec![1, 1, mid, self.pointwise.filters],
            },
        ];
        if self.pointwise.use_bias {
            w.push(WeightSpec {
                var: "bias",
                shape: vec![self.pointwise.filters],
            });
        }
        w
    }

    fn scratch_len(
        &self,
        in_shapes: &[Vec<usize>],
        out_shape: &[usize],
        _input: InputView,
    ) -> usize {
        self.mid_shape(&in_shapes[0], out_shape).iter().product()
    }

    fn geometry(
        &self,
        rt: &TokenStream,
        in_shapes: &[Vec<usize>],
        out_shape: &[usize],
        view: InputView,
    ) -> Option<(TokenStream, TokenStream)> {
        let mid = self.mid_shape(in_shapes.first()?, out_shape);
        let (dw, pw) = self.parts(in_shapes.first()?.get(2).copied()?);
        let (t0, v0) = Op::geometry(&dw, rt, in_shapes, &mid, view)?;
        let (t1, v1) = Op::geometry(pw, rt, &[mid], out_shape, InputView::PLAIN)?;
        Some((quote!((#t0, #t1)), quote!((#v0, #v1))))
    }

    fn reads_upsampled_input(&self) -> bool {
        true
    }

    /// A batch norm after a linear separable conv scales its pointwise
    /// kernel's filters and shifts its bias (as for `conv2d`): Xception's
    /// `separable -> batch norm` pairs cost nothing at run time.
    fn folds_batch_norm(&self) -> bool {
        self.pointwise.folds_batch_norm()
    }

    fn packing(&self, var: &str, rt: &TokenStream, geom: &TokenStream) -> Option<Packing> {
        match var {
            "depthwise_kernel" => Some(super::depthwise_conv2d::packing(rt, &quote!(#geom.0))),
            "pointwise_kernel" => self.pointwise.packing("kernel", rt, &quote!(#geom.1)),
            _ => None,
        }
    }

    fn pack_now(
        &self,
        var: &str,
        raw: &[f32],
        in_shapes: &[Vec<usize>],
        out_shape: &[usize],
        view: InputView,
    ) -> Option<Vec<f32>> {
        let mid = self.mid_shape(in_shapes.first()?, out_shape);
        let (dw, pw) = self.parts(in_shapes.first()?.get(2).copied()?);
        match var {
            "depthwise_kernel" => {
                super::depthwise_conv2d::pack_now(&dw, raw, in_shapes.first()?, &mid, view)
            }
            "pointwise_kernel" => pw.pack_now("kernel", raw, &[mid], out_shape, InputView::PLAIN),
            _ => None,
        }
    }

    fn emit(&self, cx: &EmitCtx) -> TokenStream {
        let (rt, geom) = (cx.rt, cx.geom);
        let (x, out, scratch) = (&cx.inputs[0], cx.out, cx.scratch);
        let (dwk, pwk) = (&cx.weights[0], &cx.weights[1]);
        let bias = match cx.weights.get(2) {
            Some(b) => quote!(::core::option::Option::Some(#b)),
            None => quote!(::core::option::Option::None),
        };
        let after = self
            .pointwise
            .activation
            .after(rt, self.pointwise.filters, out);
        // An activation fused after a folded batch norm (`relu(batch_norm(
        // separable(..)))`) runs in the pointwise conv's epilogue.
        let pointwise = if cx.post == Act::Linear {
            quote!(#rt::ops::conv2d::conv2d(__exec, &#geom.1, &*__mid, #pwk, #bias, #out);)
        } else {
            let post = cx.post.tokens(rt);
            quote!(#rt::ops::conv2d::conv2d_add(__exec, &#geom.1, &*__mid, #pwk, #bias, &[], #post, #out);)
        };
        // The scratch may be longer than the depthwise output (the planner
        // widens scratch where memory is free); the pointwise conv checks
        // that its input is exactly that output.
        quote! {
            let __mid: &mut [f32] = &mut (#scratch)[..#geom.0.output.len()];
            #rt::ops::depthwise_conv2d::depthwise_conv2d(__exec, &#geom.0, #x, #dwk, ::core::option::Option::None, &mut *__mid);
            #pointwise
            #after
        }
    }

    fn describe(&self) -> String {
        let mut d = format!("sep {}", self.depthwise.describe());
        if self.depth_multiplier != 1 {
            d += &format!(" x{}", self.depth_multiplier);
        }
        if self.pointwise.activation != Act::Linear {
            d += &format!(" {}", self.pointwise.activation.name());
        }
        d
    }
}
