//! `conv2d`: Keras `Conv2D`.

use super::*;
use skipnet_runtime::igemm::{MAX_CIN, TAPS_PER_PASS};
use skipnet_runtime::ops::{conv2d, Hwc};
use skipnet_runtime::winograd::{self, WinogradTile};

pub static DEF: OpDef = OpDef {
    name: "conv2d",
    params: &[
        Param::tensor("x"),
        Param::required("filters"),
        Param::required("kernel_size"),
        Param::optional("strides"),
        Param::optional("padding"),
        Param::optional("dilation_rate"),
        Param::optional("groups"),
        Param::optional("activation"),
        Param::optional("use_bias"),
    ],
    has_weights: true,
    build,
};

#[derive(Clone)]
pub struct Conv2d {
    /// The op as the user wrote it, for messages (`conv2d`, `depthwise_conv2d`).
    pub(super) name: &'static str,
    pub(super) filters: usize,
    pub(super) kernel: (usize, usize),
    pub(super) strides: (usize, usize),
    pub(super) same: bool,
    pub(super) dilation: (usize, usize),
    pub(super) groups: usize,
    pub(super) activation: Act,
    pub(super) use_bias: bool,
    /// The network allows Winograd (`#[winograd = false]` does not).
    pub(super) winograd_allowed: bool,
    /// F(4x4) allowed (`#[winograd = f2]` does not: F(2x2) only).
    pub(super) winograd_f4: bool,
    /// Winograd even where its scratch exceeds the layer's operands (the
    /// planner found room for it: `Op::set_wide_scratch`).
    pub(super) winograd_wide: bool,
    /// In a `#[quantized]` network: int8, its scratch the im2col block of
    /// `skipnet_runtime::qgemm`.
    pub(super) quantized: bool,
    /// A `dense` on a `[H, W, C]` map run as this 1x1 conv
    /// ([`Conv2d::dense_on_map`]): its kernel is Keras's `[C, units]`.
    pub(super) dense_kernel: bool,
}

fn build(v: &Values) -> syn::Result<Box<dyn Op>> {
    let c = Conv2d::from_args(
        v,
        "conv2d",
        v.positive("filters", None)?,
        v.positive("groups", Some(1))?,
        v.activation()?,
    )?;
    if !c.filters.is_multiple_of(c.groups) {
        return Err(error(
            v.loc("groups"),
            format!(
                "`filters` ({}) must be divisible by `groups` ({})",
                c.filters, c.groups
            ),
        ));
    }
    Ok(Box::new(c))
}

impl Conv2d {
    /// The conv `name` describes, from the arguments the conv family shares
    /// (`kernel_size`, `strides`, `padding`, `dilation_rate`, `use_bias`).
    pub(super) fn from_args(
        v: &Values,
        name: &'static str,
        filters: usize,
        groups: usize,
        activation: Act,
    ) -> syn::Result<Conv2d> {
        let c = Conv2d {
            name,
            filters,
            kernel: v.pair("kernel_size", None)?,
            strides: v.pair("strides", Some((1, 1)))?,
            same: v.choice("padding", &["valid", "same"], "valid")? == "same",
            dilation: v.pair("dilation_rate", Some((1, 1)))?,
            groups,
            activation,
            use_bias: v.boolean("use_bias", true)?,
            winograd_allowed: true,
            winograd_f4: true,
            winograd_wide: false,
            quantized: false,
            dense_kernel: false,
        };
        if (c.strides.0 > 1 || c.strides.1 > 1) && (c.dilation.0 > 1 || c.dilation.1 > 1) {
            return Err(error(
                v.loc("dilation_rate"),
                format!("`{name}` cannot combine `strides` > 1 with `dilation_rate` > 1 (Keras rejects it too)"),
            ));
        }
        Ok(c)
    }

    /// A `dense` layer applied to every pixel of a `[H, W, C]` map, as the
    /// 1x1 conv it is: Keras's `[C, units]` kernel is the 1x1 conv's
    /// `[1, 1, C, units]` in the same order, and the conv runs as a packed
    /// GEMM with the conv epilogue (a following batch norm, residual add or
    /// activation fuses into it) instead of one matrix-vector product per
    /// pixel.
    pub(super) fn dense_on_map(units: usize, activation: Act, use_bias: bool) -> Conv2d {
        Conv2d {
            name: "dense",
            filters: units,
            kernel: (1, 1),
            strides: (1, 1),
            same: false,
            dilation: (1, 1),
            groups: 1,
            activation,
            use_bias,
            winograd_allowed: false,
            winograd_f4: false,
            winograd_wide: false,
            quantized: false,
            dense_kernel: true,
        }
    }

    /// This depthwise conv (one group per input channel, `depth_multiplier`
    /// filters each) on an input of `cin` channels.
    pub(super) fn depthwise_on(&self, cin: usize, depth_multiplier: usize) -> Conv2d {
        Conv2d {
            filters: cin.saturating_mul(depth_multiplier),
            groups: cin.max(1),
            ..self.clone()
        }
    }

    /// The leading pads (top, left) of this conv on a stored `(h, w)` input
    /// read through `view`: its own padding of the frame it sees, plus a
    /// folded zero padding's top and left (the bottom and right ones are
    /// implied: the kernels read cells past the input as zeros).
    pub(super) fn leading_pad(
        &self,
        h: usize,
        w: usize,
        view: InputView,
    ) -> Option<(usize, usize)> {
        let (fh, fw) = view.frame(h, w);
        let (_, (ph, pw)) = self.geometry(fh, fw).ok()?;
        Some((ph + view.pad[0], pw + view.pad[2]))
    }

    /// The runtime's geometry of this conv on stored operands `in_shapes`
    /// read through `view`: the one value the generated code (as tokens,
    /// [`geom_tokens`]), packing at compile time and the Winograd choice all
    /// start from.
    pub(super) fn runtime_geom(
        &self,
        in_shapes: &[Vec<usize>],
        out_shape: &[usize],
        view: InputView,
    ) -> Option<conv2d::Conv2dGeom> {
        let s = in_shapes.first()?;
        let input = hwc(s)?;
        let pad = self.leading_pad(input.h, input.w, view)?;
        Some(self.geom_with(input, hwc(out_shape)?, pad, view.upsample))
    }

    /// This conv between maps `input` and `output`, with leading `pad` and
    /// on-the-fly `upsample`.
    fn geom_with(
        &self,
        input: Hwc,
        output: Hwc,
        pad: (usize, usize),
        upsample: (usize, usize),
    ) -> conv2d::Conv2dGeom {
        conv2d::Conv2dGeom {
            input,
            output,
            kernel: self.kernel,
            strides: self.strides,
            dilation: self.dilation,
            pad,
            groups: self.groups,
            activation: self.activation.runtime(),
            upsample,
        }
    }

    /// The Winograd variant this layer runs as, if any: the runtime's rule
    /// ([`winograd::choose`], or [`winograd::worthwhile`] once the planner
    /// found room for a wider scratch) on the stored operand shapes. It does
    /// not depend on a folded upsample or zero padding, nor on the padding
    /// (left out here).
    fn winograd(&self, in_shapes: &[Vec<usize>], out_shape: &[usize]) -> Option<WinogradTile> {
        let g = self.winograd_candidate(in_shapes, out_shape)?;
        let largest = self.largest_winograd_tile();
        if self.winograd_wide {
            winograd::worthwhile_up_to(&g, largest)
        } else {
            winograd::choose_up_to(&g, largest)
        }
    }

    /// F(4x4) unless the network says `#[winograd = f2]`.
    fn largest_winograd_tile(&self) -> WinogradTile {
        match self.winograd_f4 {
            true => WinogradTile::F4,
            false => WinogradTile::F2,
        }
    }

    /// The geometry `winograd::choose` judges (pads left out), when the
    /// network allows Winograd.
    fn winograd_candidate(
        &self,
        in_shapes: &[Vec<usize>],
        out_shape: &[usize],
    ) -> Option<conv2d::Conv2dGeom> {
        if !self.winograd_allowed {
            return None;
        }
        let input = hwc(in_shapes.first()?)?;
        Some(self.geom_with(input, hwc(out_shape)?, (0, 0), (1, 1)))
    }

    /// The Winograd geometry, when [`Conv2d::winograd`] picks it.
    fn winograd_geom(
        &self,
        in_shapes: &[Vec<usize>],
        out_shape: &[usize],
        view: InputView,
    ) -> Option<winograd::WinogradGeom> {
        let tile = self.winograd(in_shapes, out_shape)?;
        let conv = self.runtime_geom(in_shapes, out_shape, view)?;
        Some(winograd::WinogradGeom { conv, tile })
    }

    /// Output size and leading pad along H and W.
    pub(super) fn geometry(&self, h: usize, w: usize) -> Result<Geometry, OpError> {
        let axis = |input: usize, k: usize, s: usize, d: usize, name: &str| {
            let span = (k - 1).checked_mul(d).and_then(|v| v.checked_add(1));
            let Some(span) = span else {
                return op_err(
                    Blame::Arg("kernel_size"),
                    "kernel size times dilation overflows",
                );
            };
            window_out(input, span, s, self.same).or_else(|_| {
                let what = if d > 1 {
                    format!("kernel {name} {k} with dilation {d} spans {span}, which is")
                } else {
                    format!("kernel {name} {k} is")
                };
                op_err(
                    Blame::Arg("kernel_size"),
                    format!(
                        "`{}` with `padding = valid`: the {what} more than the input {name} {input}; use `padding = same` or a smaller kernel",
                        self.name
                    ),
                )
            })
        };
        let (oh, ph) = axis(h, self.kernel.0, self.strides.0, self.dilation.0, "height")?;
        let (ow, pw) = axis(w, self.kernel.1, self.strides.1, self.dilation.1, "width")?;
        Ok(((oh, ow), (ph, pw)))
    }
}

impl Op for Conv2d {
    fn configure(&mut self, options: &NetOptions) {
        self.winograd_allowed = options.winograd;
        self.winograd_f4 = options.winograd_f4;
        self.quantized = options.quantized;
    }

    // A grouped conv with one input channel per group is a depthwise conv
    // (ConvNeXt writes its 7x7 ones so): the depthwise kernel, channels in
    // SIMD lanes, runs it where the grouped GEMM made one 49-tap dot
    // product per channel (0.37 GMAC/s, three quarters of ConvNeXtTiny).
    fn lowered(&self, in_shapes: &[&[usize]]) -> Option<Box<dyn Op>> {
        let cin = in_shapes.first()?.get(2).copied()?;
        let one_channel_per_group = self.groups > 1 && cin == self.groups;
        (one_channel_per_group && !self.dense_kernel && !self.quantized).then(|| {
            Box::new(super::depthwise_conv2d::Depthwise::of_grouped_conv(
                self, cin,
            )) as Box<dyn Op>
        })
    }

    fn infer(&self, ops: &[Operand]) -> Result<Vec<usize>, OpError> {
        let (h, w, c) = expect_hwc(self.name, 0, &ops[0])?;
        if !c.is_multiple_of(self.groups) {
            return op_err(
                Blame::Arg("groups"),
                format!(
                    "`conv2d` input channels ({c}) must be divisible by `groups` ({}); {}",
                    self.groups,
                    ops[0].describe()
                ),
            );
        }
        let ((oh, ow), _) = self.geometry(h, w)?;
        Ok(vec![oh, ow, self.filters])
    }

    fn weights(&self, ins: &[&[usize]]) -> Vec<WeightSpec> {
        let cin = ins[0][2] / self.groups;
        let shape = match self.dense_kernel {
            true => vec![cin, self.filters],
            false => vec![self.kernel.0, self.kernel.1, cin, self.filters],
        };
        let mut w = vec![WeightSpec {
            var: "kernel",
            shape,
        }];
        if self.use_bias {
            w.push(WeightSpec {
                var: "bias",
                shape: vec![self.filters],
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
        let conv = geom_tokens(rt, &self.runtime_geom(in_shapes, out_shape, view)?);
        Some(match self.winograd(in_shapes, out_shape) {
            Some(tile) => {
                let tile = match tile {
                    WinogradTile::F2 => quote!(#rt::winograd::WinogradTile::F2),
                    WinogradTile::F4 => quote!(#rt::winograd::WinogradTile::F4),
                };
                (
                    quote!(#rt::winograd::WinogradGeom),
                    quote!(#rt::winograd::WinogradGeom { conv: #conv, tile: #tile }),
                )
            }
            None => (quote!(#rt::ops::conv2d::Conv2dGeom), conv),
        })
    }

    fn scratch_len(&self, in_shapes: &[Vec<usize>], out_shape: &[usize], view: InputView) -> usize {
        if self.quantized {
            return self
                .runtime_geom(in_shapes, out_shape, view)
                .filter(skipnet_runtime::qgemm::supports)
                .map_or(0, |g| skipnet_runtime::qgemm::scratch_bytes(&g));
        }
        self.winograd_geom(in_shapes, out_shape, view)
            .map_or(0, |wg| wg.scratch_len())
    }

    fn overwrite_gap(
        &self,
        in_shapes: &[Vec<usize>],
        out_shape: &[usize],
        view: InputView,
    ) -> Option<usize> {
        let g = self
            .runtime_geom(in_shapes, out_shape, view)
            .filter(|g| self.quantized && skipnet_runtime::qgemm::supports(g))?;
        Some(skipnet_runtime::qgemm::overwrite_gap(&g, (g.output.c, 0)))
    }

    fn conv_geom(
        &self,
        in_shapes: &[Vec<usize>],
        out_shape: &[usize],
        view: InputView,
    ) -> Option<conv2d::Conv2dGeom> {
        self.runtime_geom(in_shapes, out_shape, view)
    }

    fn wants_wide_scratch(&self, in_shapes: &[Vec<usize>], out_shape: &[usize]) -> bool {
        !self.winograd_wide
            && self.winograd(in_shapes, out_shape).is_none()
            && self
                .winograd_candidate(in_shapes, out_shape)
                .is_some_and(|g| {
                    winograd::worthwhile_up_to(&g, self.largest_winograd_tile()).is_some()
                })
    }

    fn set_wide_scratch(&mut self, on: bool) {
        self.winograd_wide = on;
    }

    fn algorithm(&self, in_shapes: &[Vec<usize>], out_shape: &[usize]) -> Option<&'static str> {
        self.winograd(in_shapes, out_shape).map(WinogradTile::name)
    }

    fn reads_upsampled_input(&self) -> bool {
        true
    }

    fn reads_padded_input(&self) -> bool {
        true
    }

    // Softmax runs over whole rows after the kernel, so this conv's output
    // must be its own contiguous tensor, with nothing added in the epilogue.
    fn accepts_residual(&self) -> bool {
        self.activation != Act::Softmax
    }

    // The batch norm must see the conv's raw output: no activation between.
    fn folds_batch_norm(&self) -> bool {
        self.activation == Act::Linear
    }

    // 1x1 only: Winograd (which packs the kernel otherwise) never takes
    // one, and a squeeze-and-excite product feeds a 1x1 projection.
    fn scaled_kernel_len(&self, in_shapes: &[Vec<usize>], out_shape: &[usize]) -> Option<usize> {
        let plain = !self.quantized && self.kernel == (1, 1) && self.groups == 1;
        let g = self
            .runtime_geom(in_shapes, out_shape, InputView::PLAIN)
            .filter(|_| plain)?;
        Some(g.packed_kernel_len())
    }

    // TFLite fuses only these into an int8 conv (as a clamp).
    fn int8(&self) -> Option<Int8> {
        matches!(self.activation, Act::Linear | Act::Relu | Act::Relu6)
            .then_some(Int8::Conv(self.activation))
    }

    fn writes_strided(&self) -> bool {
        self.activation != Act::Softmax
    }

    fn adds_in_place(&self, in_shapes: &[&[usize]]) -> bool {
        // The runtime's rule (`can_add_in_place`, asserted again in the
        // generated code): one pass over taps and channels, or a linear layer.
        let cin_g = in_shapes[0].get(2).copied().unwrap_or(0) / self.groups;
        self.activation != Act::Softmax
            && (self.activation == Act::Linear
                || (self.kernel.0 * self.kernel.1 <= TAPS_PER_PASS && cin_g <= MAX_CIN))
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
        if let Some(wg) = self.winograd_geom(in_shapes, out_shape, view) {
            let mut packed = vec![0.0; wg.packed_kernel_len()];
            winograd::pack_kernel(&wg, raw, &mut packed);
            return Some(packed);
        }
        let g = self.runtime_geom(in_shapes, out_shape, view)?;
        let mut packed = vec![0.0; g.packed_kernel_len()];
        conv2d::pack_kernel(&g, raw, &mut packed);
        Some(packed)
    }

    // Both geometry types have `packed_kernel_len`; the packing function
    // follows the algorithm `geometry` chose.
    fn packing(&self, var: &str, rt: &TokenStream, geom: &TokenStream) -> Option<Packing> {
        (var == "kernel").then(|| Packing {
            len: quote!(#geom.packed_kernel_len()),
            pack: quote!(|raw: &[f32], packed: &mut [f32]| #rt::ops::conv2d::PackConvKernel::pack_conv_kernel(&#geom, raw, packed)),
        })
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
        // Winograd's entry points are the direct ones plus its scratch.
        let (module, scratch) = if self.winograd(cx.in_shapes, cx.out_shape).is_some() {
            let scratch = cx.scratch;
            (quote!(#rt::winograd), quote!(, #scratch))
        } else {
            (quote!(#rt::ops::conv2d), quote!())
        };
        if let Some((stride, offset)) = cx.out_layout {
            return quote!(#module::conv2d_into(__exec, &#geom, #x, #kernel, #bias, #stride, #offset, #out #scratch););
        }
        if cx.in_place {
            quote! {
                const _: () = assert!(#module::can_add_in_place(&#geom));
                #module::conv2d_add_in_place(__exec, &#geom, #x, #kernel, #bias, &[#(#r),*], #post, #out #scratch);
            }
        } else if r.is_empty() && cx.post == Act::Linear {
            let after = self.activation.after(rt, self.filters, out);
            quote! {
                #module::conv2d(__exec, &#geom, #x, #kernel, #bias, #out #scratch);
                #after
            }
        } else {
            quote!(#module::conv2d_add(__exec, &#geom, #x, #kernel, #bias, &[#(#r),*], #post, #out #scratch);)
        }
    }

    fn describe(&self) -> String {
        if self.dense_kernel {
            let mut d = format!("{} units as 1x1 conv", self.filters);
            if self.activation != Act::Linear {
                d += &format!(" {}", self.activation.name());
            }
            if !self.use_bias {
                d += " no bias";
            }
            return d;
        }
        let mut d = format!("{}x{}", self.kernel.0, self.kernel.1);
        if self.strides != (1, 1) {
            d += &format!(" /{}", pair_str(self.strides));
        }
        if self.dilation != (1, 1) {
            d += &format!(" d{}", pair_str(self.dilation));
        }
        d += if self.same { " same" } else { " valid" };
        if self.groups != 1 {
            d += &format!(" g{}", self.groups);
        }
        if self.activation != Act::Linear {
            d += &format!(" {}", self.activation.name());
        }
        d
    }
}

fn pair_str((a, b): (usize, usize)) -> String {
    if a == b {
        a.to_string()
    } else {
        format!("({a},{b})")
    }
}

/// A `[H, W, C]` shape as the runtime's map size.
fn hwc(s: &[usize]) -> Option<Hwc> {
    Some(Hwc {
        h: *s.first()?,
        w: *s.get(1)?,
        c: *s.get(2)?,
    })
}

/// `g` as the tokens of the same `Conv2dGeom` literal, for generated code.
pub(super) fn geom_tokens(rt: &TokenStream, g: &conv2d::Conv2dGeom) -> TokenStream {
    let input = hwc_tokens(rt, &[g.input.h, g.input.w, g.input.c]);
    let output = hwc_tokens(rt, &[g.output.h, g.output.w, g.output.c]);
    let (kh, kw) = g.kernel;
    let (sh, sw) = g.strides;
    let (dh, dw) = g.dilation;
    let (ph, pw) = g.pad;
    let (uh, uw) = g.upsample;
    let groups = g.groups;
    let act = activation_tokens(rt, g.activation);
    quote! {
        #rt::ops::conv2d::Conv2dGeom {
            input: #input,
            output: #output,
            kernel: (#kh, #kw),
            strides: (#sh, #sw),
            dilation: (#dh, #dw),
            pad: (#ph, #pw),
            groups: #groups,
            activation: #act,
            upsample: (#uh, #uw),
        }
    }
}
