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
    // Folded into a linear conv (or `dense` on a map) before it, as a batch
    // norm is: ConvNeXt's `dense -> layer_scale -> add` becomes one conv
    // whose epilogue adds the residual.
    fn fusable(&self) -> Fusable<'_> {
        Fusable::LayerScale
    }

    fn infer(&self, ops: &[Operand]) -> Result<Vec<usize>, OpError> {
        per_channel_shape("layer_scale", ops)
    }

    fn weights(&self, ins: &[&[usize]]) -> Vec<WeightSpec> {
        per_channel_weights(["gamma"], ins)
    }

    fn emit(&self, cx: &EmitCtx) -> TokenStream {
        let rt = cx.rt;
        let (x, out, gamma) = (&cx.inputs[0], cx.out, &cx.weights[0]);
        quote!(#rt::ops::layer_scale::layer_scale(#gamma, #x, #out);)
    }
}
