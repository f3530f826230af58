//! `batch_norm(x, epsilon = 0.001)`: Keras `BatchNormalization` in inference
//! form, on the last axis, with Keras 3's variables `gamma`, `beta`,
//! `moving_mean`, `moving_variance` (each `[C]`).

use super::*;

pub static DEF: OpDef = OpDef {
    name: "batch_norm",
    params: &[Param::tensor("x"), Param::optional("epsilon")],
    has_weights: true,
    build: |v| {
        let eps = v.float("epsilon", 0.001, 0.0..=f64::MAX, "a non-negative number")?;
        Ok(Box::new(BatchNorm {
            epsilon: eps as f32,
        }))
    },
};

pub struct BatchNorm {
    epsilon: f32,
}

impl Op for BatchNorm {
    fn fusable(&self) -> Fusable<'_> {
        Fusable::BatchNorm {
            epsilon: self.epsilon,
        }
    }

    fn infer(&self, ops: &[Operand]) -> Result<Vec<usize>, OpError> {
        per_channel_shape("batch_norm", ops)
    }

    fn weights(&self, ins: &[&[usize]]) -> Vec<WeightSpec> {
        per_channel_weights(["gamma", "beta", "moving_mean", "moving_variance"], ins)
    }

    fn emit(&self, cx: &EmitCtx) -> TokenStream {
        let rt = cx.rt;
        let c = cx.in_shapes[0].last().copied().unwrap_or(0);
        let eps = self.epsilon;
        let (x, out) = (&cx.inputs[0], cx.out);
        let w = cx.weights;
        let (g, b, m, v) = (&w[0], &w[1], &w[2], &w[3]);
        quote!(#rt::ops::batch_norm::batch_norm(#c, #eps, #g, #b, #m, #v, #x, #out);)
    }

    fn describe(&self) -> String {
        format!("eps {}", self.epsilon)
    }
}
