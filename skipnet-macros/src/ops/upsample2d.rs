//! `upsample2d`: Keras `UpSampling2D` (nearest).

use super::*;

pub static DEF: OpDef = OpDef {
    name: "upsample2d",
    params: &[
        Param {
            name: "x",
            kind: Kind::Tensor,
        },
        Param {
            name: "size",
            kind: Kind::Optional,
        },
        Param {
            name: "interpolation",
            kind: Kind::Optional,
        },
    ],
    has_weights: false,
    build,
};

pub struct Upsample2d {
    size: (usize, usize),
}

fn build(v: &Values) -> syn::Result<Box<dyn Op>> {
    let size = v.pair("size", Some((2, 2)))?;
    if v.choice("interpolation", &["nearest", "bilinear"], "nearest")? == "bilinear" {
        return Err(error(
            v.loc("interpolation"),
            "`upsample2d` with `interpolation = bilinear` is not supported yet; use `nearest`",
        ));
    }
    Ok(Box::new(Upsample2d { size }))
}

impl Op for Upsample2d {
    fn infer(&self, ops: &[Operand]) -> Result<Vec<usize>, OpError> {
        let (h, w, c) = expect_hwc("upsample2d", 0, &ops[0])?;
        match (h.checked_mul(self.size.0), w.checked_mul(self.size.1)) {
            (Some(oh), Some(ow)) => Ok(vec![oh, ow, c]),
            _ => op_err(Blame::Arg("size"), "`upsample2d` output size overflows"),
        }
    }

    fn emit(&self, cx: &EmitCtx) -> TokenStream {
        let rt = cx.rt;
        let input = hwc_tokens(rt, &cx.in_shapes[0]);
        let (sh, sw) = self.size;
        let (x, out) = (&cx.inputs[0], cx.out);
        quote!(#rt::ops::upsample2d::upsample2d_nearest(#input, (#sh, #sw), #x, #out);)
    }

    fn nearest_upsample(&self) -> Option<(usize, usize)> {
        Some(self.size)
    }

    fn describe(&self) -> String {
        format!("x({},{}) nearest", self.size.0, self.size.1)
    }
}
