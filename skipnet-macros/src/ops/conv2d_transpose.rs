//! `conv2d_transpose`: Keras `Conv2DTranspose` (kernel `[kh, kw, filters, in]`).
//! Output size as Keras: `same` gives `in * stride`, `valid` gives
//! `in * stride + max(k - stride, 0)`.

use super::*;

pub static DEF: OpDef = OpDef {
    name: "conv2d_transpose",
    params: &[
        Param::tensor("x"),
        Param::required("filters"),
        Param::required("kernel_size"),
        Param::optional("strides"),
        Param::optional("padding"),
        Param::optional("activation"),
        Param::optional("use_bias"),
    ],
    has_weights: true,
    build,
};

pub struct Conv2dTranspose {
    filters: usize,
    kernel: (usize, usize),
    strides: (usize, usize),
    same: bool,
    activation: Act,
    use_bias: bool,
}

fn build(v: &Values) -> syn::Result<Box<dyn Op>> {
    Ok(Box::new(Conv2dTranspose {
        filters: v.positive("filters", None)?,
        kernel: v.pair("kernel_size", None)?,
        strides: v.pair("strides", Some((1, 1)))?,
        same: v.choice("padding", &["valid", "same"], "valid")? == "same",
        activation: v.activation()?,
        use_bias: v.boolean("use_bias", true)?,
    }))
}

impl Conv2dTranspose {
    /// Output length and leading pad along one axis.
    fn axis(&self, input: usize, k: usize, s: usize) -> Option<(usize, usize)> {
        let base = input.checked_mul(s)?;
        if self.same {
            Some((base, k.saturating_sub(s) / 2))
        } else {
            Some((base.checked_add(k.saturating_sub(s))?, 0))
        }
    }
}

impl Op for Conv2dTranspose {
    fn infer(&self, ops: &[Operand]) -> Result<Vec<usize>, OpError> {
        let (h, w, _) = expect_hwc("conv2d_transpose", 0, &ops[0])?;
        match (
            self.axis(h, self.kernel.0, self.strides.0),
            self.axis(w, self.kernel.1, self.strides.1),
        ) {
            (Some((oh, _)), Some((ow, _))) => Ok(vec![oh, ow, self.filters]),
            _ => op_err(
                Blame::Arg("strides"),
                "`conv2d_transpose` output size overflows",
            ),
        }
    }

    fn weights(&self, ins: &[&[usize]]) -> Vec<WeightSpec> {
        let cin = ins[0].get(2).copied().unwrap_or(0);
        let mut w = vec![WeightSpec {
            var: "kernel",
            shape: vec![self.kernel.0, self.kernel.1, self.filters, cin],
        }];
        if self.use_bias {
            w.push(WeightSpec {
                var: "bias",
                shape: vec![self.filters],
            });
        }
        w
    }

    fn emit(&self, cx: &EmitCtx) -> TokenStream {
        let rt = cx.rt;
        let s = &cx.in_shapes[0];
        let (Some((_, ph)), Some((_, pw))) = (
            self.axis(s[0], self.kernel.0, self.strides.0),
            self.axis(s[1], self.kernel.1, self.strides.1),
        ) else {
            return quote!(compile_error!("conv2d_transpose geometry changed after shape check"););
        };
        let input = hwc_tokens(rt, s);
        let output = hwc_tokens(rt, cx.out_shape);
        let (kh, kw) = self.kernel;
        let (sh, sw) = self.strides;
        let act = self.activation.tokens(rt);
        let after = self.activation.after(rt, self.filters, cx.out);
        let (x, out, kernel) = (&cx.inputs[0], cx.out, &cx.weights[0]);
        let bias = match cx.weights.get(1) {
            Some(b) => quote!(::core::option::Option::Some(#b)),
            None => quote!(::core::option::Option::None),
        };
        quote! {
            const GEOM: #rt::ops::conv2d_transpose::Conv2dTransposeGeom =
                #rt::ops::conv2d_transpose::Conv2dTransposeGeom {
                    input: #input,
                    output: #output,
                    kernel: (#kh, #kw),
                    strides: (#sh, #sw),
                    pad: (#ph, #pw),
                    activation: #act,
                };
            #rt::ops::conv2d_transpose::conv2d_transpose(&GEOM, #x, #kernel, #bias, #out);
            #after
        }
    }

    fn describe(&self) -> String {
        let mut d = format!(
            "{}x{} /{}x{} {}",
            self.kernel.0,
            self.kernel.1,
            self.strides.0,
            self.strides.1,
            if self.same { "same" } else { "valid" }
        );
        if self.activation != Act::Linear {
            d += &format!(" {}", self.activation.name());
        }
        d
    }
}
