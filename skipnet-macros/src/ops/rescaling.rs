//! Keras's preprocessing layers kept at a model's input:
//! `rescaling(x, scale, offset = 0.0)` (Keras `Rescaling`: `x * scale +
//! offset`, scalars) and `normalization(x)` (Keras `Normalization` on the
//! last axis: `(x - mean) / max(sqrt(variance), 1e-7)`, Keras 3's variables
//! `mean` and `variance`, each `[C]`).

use super::*;

pub static RESCALING: OpDef = OpDef {
    name: "rescaling",
    params: &[
        Param::tensor("x"),
        Param::required("scale"),
        Param::optional("offset"),
    ],
    has_weights: false,
    build: |v| {
        let any = f64::MIN..=f64::MAX;
        let scale = v.float("scale", 1.0, any.clone(), "a finite number")?;
        let offset = v.float("offset", 0.0, any, "a finite number")?;
        Ok(Box::new(Rescaling {
            scale: scale as f32,
            offset: offset as f32,
        }))
    },
};

pub struct Rescaling {
    scale: f32,
    offset: f32,
}

impl Op for Rescaling {
    fn infer(&self, ops: &[Operand]) -> Result<Vec<usize>, OpError> {
        Ok(ops[0].shape.to_vec())
    }

    fn emit(&self, cx: &EmitCtx) -> TokenStream {
        let rt = cx.rt;
        let (s, o) = (self.scale, self.offset);
        let (x, out) = (&cx.inputs[0], cx.out);
        quote!(#rt::ops::rescaling::rescaling(#s, #o, #x, #out);)
    }

    fn describe(&self) -> String {
        match self.offset {
            0.0 => format!("x {}", self.scale),
            o => format!("x {} + {o}", self.scale),
        }
    }
}

pub static NORMALIZATION: OpDef = OpDef {
    name: "normalization",
    params: &[Param::tensor("x")],
    has_weights: true,
    build: |_| Ok(Box::new(Normalization)),
};

pub struct Normalization;

impl Op for Normalization {
    fn infer(&self, ops: &[Operand]) -> Result<Vec<usize>, OpError> {
        per_channel_shape("normalization", ops)
    }

    fn weights(&self, ins: &[&[usize]]) -> Vec<WeightSpec> {
        per_channel_weights(["mean", "variance"], ins)
    }

    fn emit(&self, cx: &EmitCtx) -> TokenStream {
        let rt = cx.rt;
        let c = cx.in_shapes[0].last().copied().unwrap_or(0);
        let (x, out) = (&cx.inputs[0], cx.out);
        let (m, v) = (&cx.weights[0], &cx.weights[1]);
        quote!(#rt::ops::rescaling::normalization(#c, #m, #v, #x, #out);)
    }
}
