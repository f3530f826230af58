//! Standalone activations: `relu(x)`, `sigmoid(x)`, `tanh(x)`, `linear(x)`.

use super::*;

const X: &[Param] = &[Param {
    name: "x",
    kind: Kind::Tensor,
}];

pub static RELU: OpDef = OpDef {
    name: "relu",
    params: X,
    has_weights: false,
    build: |_| Ok(Box::new(Activation(Act::Relu))),
};
pub static SIGMOID: OpDef = OpDef {
    name: "sigmoid",
    params: X,
    has_weights: false,
    build: |_| Ok(Box::new(Activation(Act::Sigmoid))),
};
pub static TANH: OpDef = OpDef {
    name: "tanh",
    params: X,
    has_weights: false,
    build: |_| Ok(Box::new(Activation(Act::Tanh))),
};
pub static LINEAR: OpDef = OpDef {
    name: "linear",
    params: X,
    has_weights: false,
    build: |_| Ok(Box::new(Activation(Act::Linear))),
};

pub struct Activation(Act);

impl Op for Activation {
    fn as_activation(&self) -> Option<Act> {
        Some(self.0)
    }

    fn infer(&self, ops: &[Operand]) -> Result<Vec<usize>, OpError> {
        Ok(ops[0].shape.to_vec())
    }

    fn emit(&self, cx: &EmitCtx) -> TokenStream {
        let rt = cx.rt;
        let act = self.0.tokens(rt);
        let (x, out) = (&cx.inputs[0], cx.out);
        quote!(#rt::ops::activation::activation(#act, #x, #out);)
    }
}
