//! `layer_norm(x, epsilon = 0.001, center = true, scale = true)`: Keras
//! `LayerNormalization` on the last axis, Keras 3's variables `gamma`
//! (with `scale`) and `beta` (with `center`), each `[C]`.

use super::*;

pub static DEF: OpDef = OpDef {
    name: "layer_norm",
    params: &[
        Param::tensor("x"),
        Param::optional("epsilon"),
        Param::optional("center"),
        Param::optional("scale"),
    ],
    has_weights: true,
    build: |v| {
        let eps = v.float("epsilon", 0.001, 0.0..=f64::MAX, "a non-negative number")?;
        Ok(Box::new(LayerNorm {
            epsilon: eps as f32,
            center: v.boolean("center", true)?,
            scale: v.boolean("scale", true)?,
        }))
    },
};

pub struct LayerNorm {
    epsilon: f32,
    center: bool,
    scale: bool,
}

impl Op for LayerNorm {
    fn infer(&self, ops: &[Operand]) -> Result<Vec<usize>, OpError> {
        per_channel_shape("layer_norm", ops)
    }

    fn weights(&self, ins: &[&[usize]]) -> Vec<WeightSpec> {
        let vars = [("gamma", self.scale), ("beta", self.center)];
        per_channel_weights(vars.into_iter().filter(|(_, on)| *on).map(|(v, _)| v), ins)
    }

    fn emit(&self, cx: &EmitCtx) -> TokenStream {
        let rt = cx.rt;
        let c = cx.in_shapes[0].last().copied().unwrap_or(0);
        let eps = self.epsilon;
        let (x, out) = (&cx.inputs[0], cx.out);
        let mut w = cx.weights.iter();
        let some = |on: bool, w: Option<&TokenStream>| match (on, w) {
            (true, Some(t)) => quote!(::core::option::Option::Some(#t)),
            _ => quote!(::core::option::Option::None),
        };
        let gamma = some(self.scale, self.scale.then(|| w.next()).flatten());
        let beta = some(self.center, self.center.then(|| w.next()).flatten());
        quote!(#rt::ops::layer_norm::layer_norm(#c, #eps, #gamma, #beta, #x, #out);)
    }

    fn describe(&self) -> String {
        let mut d = format!("eps {}", self.epsilon);
        if !self.center {
            d += ", no center";
        }
        if !self.scale {
            d += ", no scale";
        }
        d
    }
}
