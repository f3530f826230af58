//! `upsample2d`: Keras `UpSampling2D` (`nearest`, folded into conv consumers,
//! or `bilinear`).

use super::*;

pub static DEF: OpDef = OpDef {
    name: "upsample2d",
    params: &[
        Param::tensor("x"),
        Param::optional("size"),
        Param::optional("interpolation"),
    ],
    has_weights: false,
    build,
};

pub struct Upsample2d {
    size: (usize, usize),
    bilinear: bool,
}

fn build(v: &Values) -> syn::Result<Box<dyn Op>> {
    let size = v.pair("size", Some((2, 2)))?;
    let bilinear = v.choice("interpolation", &["nearest", "bilinear"], "nearest")? == "bilinear";
    Ok(Box::new(Upsample2d { size, bilinear }))
}

impl Op for Upsample2d {
    fn infer(&self, ops: &[Operand]) -> Result<Vec<usize>, OpError> {
        let (h, w, c) = expect_hwc("upsample2d", 0, &ops[0])?;
        match (h.checked_mul(self.size.0), w.checked_mul(self.size.1)) {
            (Some(oh), Some(ow)) => Ok(vec![oh, ow, c]),
            _ => op_err(Blame::Arg("size"), "`upsample2d` output size overflows"),
        }
    }

    // Nearest is a copy (TFLite's RESIZE_NEAREST_NEIGHBOR keeps its
    // input's quantization); bilinear would need TFLite's int8 arithmetic.
    fn int8(&self) -> Option<Int8> {
        (!self.bilinear).then_some(Int8::SameQuantization)
    }

    fn emit(&self, cx: &EmitCtx) -> TokenStream {
        let rt = cx.rt;
        let input = hwc_tokens(rt, &cx.in_shapes[0]);
        let (sh, sw) = self.size;
        let (x, out) = (&cx.inputs[0], cx.out);
        if self.bilinear {
            return quote!(#rt::ops::upsample2d::upsample2d_bilinear(#input, (#sh, #sw), #x, #out););
        }
        quote!(#rt::ops::upsample2d::upsample2d_nearest(#input, (#sh, #sw), #x, #out);)
    }

    // Only nearest upsampling can be folded into a conv's index arithmetic.
    fn fusable(&self) -> Fusable<'_> {
        match self.bilinear {
            true => Fusable::No,
            false => Fusable::NearestUpsample(self.size),
        }
    }

    fn describe(&self) -> String {
        let how = if self.bilinear { "bilinear" } else { "nearest" };
        format!("x({},{}) {how}", self.size.0, self.size.1)
    }
}
