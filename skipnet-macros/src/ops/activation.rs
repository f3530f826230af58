//! Standalone activations: `relu(x)`, `sigmoid(x)`, `tanh(x)`, `linear(x)`,
//! `relu6`, `elu`, `hard_sigmoid`, `swish`, `gelu`, `softmax` (last axis).

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
pub static RELU6: OpDef = OpDef {
    name: "relu6",
    params: X,
    has_weights: false,
    build: |_| Ok(Box::new(Activation(Act::Relu6))),
};
pub static ELU: OpDef = OpDef {
    name: "elu",
    params: X,
    has_weights: false,
    build: |_| Ok(Box::new(Activation(Act::Elu))),
};
pub static HARD_SIGMOID: OpDef = OpDef {
    name: "hard_sigmoid",
    params: X,
    has_weights: false,
    build: |_| Ok(Box::new(Activation(Act::HardSigmoid))),
};
pub static SWISH: OpDef = OpDef {
    name: "swish",
    params: X,
    has_weights: false,
    build: |_| Ok(Box::new(Activation(Act::Swish))),
};
pub static GELU: OpDef = OpDef {
    name: "gelu",
    params: X,
    has_weights: false,
    build: |_| Ok(Box::new(Activation(Act::Gelu))),
};
/// Over the last axis (Keras `Softmax`'s default `axis=-1`).
pub static SOFTMAX: OpDef = OpDef {
    name: "softmax",
    params: X,
    has_weights: false,
    build: |_| Ok(Box::new(Activation(Act::Softmax))),
};

pub struct Activation(Act);

impl Op for Activation {
    fn as_activation(&self) -> Option<Act> {
        // Softmax needs whole rows: never folded into a kernel's epilogue.
        (self.0 != Act::Softmax).then_some(self.0)
    }

    fn infer(&self, ops: &[Operand]) -> Result<Vec<usize>, OpError> {
        Ok(ops[0].shape.to_vec())
    }

    fn emit(&self, cx: &EmitCtx) -> TokenStream {
        let rt = cx.rt;
        let act = self.0.tokens(rt);
        let (x, out) = (&cx.inputs[0], cx.out);
        if self.0 == Act::Softmax {
            let n = cx.out_shape.last().copied().unwrap_or(0);
            return quote!(#rt::ops::softmax::softmax(#n, #x, #out););
        }
        quote!(#rt::ops::activation::activation(#act, #x, #out);)
    }
}
