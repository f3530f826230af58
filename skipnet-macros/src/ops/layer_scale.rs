//! `layer_scale(x)`: Keras's `LayerScale` (ConvNeXt's), `x * gamma` with
//! one learned factor per channel, Keras 3's variable `gamma`, `[C]`.

use super::*;

pub static DEF: OpDef = OpDef {
    name: "layer_scale",
    params: &[Param::tensor("x")],
    has_weights: true,
    build: |_| Ok(Box::new(LayerScale)),
};

pub struct LayerScale;

impl Op for LayerScale {
    fn infer(&self, ops: &[Operand]) -> Result<Vec<usize>, OpError> {
        if ops[0].shape.is_empty() {
            return op_err(
                Blame::Operand(0),
                "`layer_scale` needs a tensor with channels",
            );
        }
        Ok(ops[0].shape.to_vec())
    }

    fn weights(&self, ins: &[&[usize]]) -> Vec<WeightSpec> {
        let c = ins[0].last().copied().unwrap_or(0);
        vec![WeightSpec {
            var: "gamma",
            shape: vec![c],
        }]
    }

    fn emit(&self, cx: &EmitCtx) -> TokenStream {
        let rt = cx.rt;
        let (x, out, gamma) = (&cx.inputs[0], cx.out, &cx.weights[0]);
        quote!(#rt::ops::layer_scale::layer_scale(#gamma, #x, #out);)
    }
}
