//! Standalone activations: `relu(x)`, `sigmoid(x)`, `tanh(x)`, `linear(x)`,
//! `relu6`, `elu`, `hard_sigmoid`, `hard_silu`, `swish`, `gelu`, `softmax` (last
//! axis).

use super::*;

const X: &[Param] = &[Param::tensor("x")];

/// One `OpDef` per activation: `name(x)`, building `Activation(Act::$act)`.
macro_rules! activation_def {
    ($($(#[$doc:meta])* $def:ident = $name:literal => $act:ident;)*) => {$(
        $(#[$doc])*
        pub static $def: OpDef = OpDef {
            name: $name,
            params: X,
            has_weights: false,
            build: |_| Ok(Box::new(Activation(Act::$act))),
        };
    )*};
}

activation_def! {
    RELU = "relu" => Relu;
    SIGMOID = "sigmoid" => Sigmoid;
    TANH = "tanh" => Tanh;
    LINEAR = "linear" => Linear;
    RELU6 = "relu6" => Relu6;
    ELU = "elu" => Elu;
    HARD_SIGMOID = "hard_sigmoid" => HardSigmoid;
    SWISH = "swish" => Swish;
    GELU = "gelu" => Gelu;
    /// Keras 3's `hard_silu` (`hard_swish` is its alias there).
    HARD_SILU = "hard_silu" => HardSilu;
    /// Over the last axis (Keras `Softmax`'s default `axis=-1`).
    SOFTMAX = "softmax" => Softmax;
}

pub struct Activation(Act);

impl Op for Activation {
    fn fusable(&self) -> Fusable<'_> {
        // Softmax needs whole rows: never folded into a kernel's epilogue.
        match self.0 {
            Act::Softmax => Fusable::No,
            a => Fusable::Activation(a),
        }
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

/// `leaky_relu(x, alpha = 0.3)`: Keras `LeakyReLU` (its Keras 3 name for the
/// slope, `negative_slope`, is accepted too).
pub static LEAKY_RELU: OpDef = OpDef {
    name: "leaky_relu",
    params: &[
        Param::tensor("x"),
        Param::optional("alpha"),
        Param::optional("negative_slope"),
    ],
    has_weights: false,
    build: |v| {
        if v.values.contains_key("alpha") && v.values.contains_key("negative_slope") {
            return Err(error(
                v.loc("negative_slope"),
                "give the slope of `leaky_relu` once: `alpha` and `negative_slope` are the same argument",
            ));
        }
        let name = if v.values.contains_key("negative_slope") {
            "negative_slope"
        } else {
            "alpha"
        };
        let alpha = v.float(name, 0.3, 0.0..=f64::MAX, "a non-negative number")?;
        Ok(Box::new(LeakyRelu(alpha as f32)))
    },
};

pub struct LeakyRelu(f32);

impl Op for LeakyRelu {
    fn infer(&self, ops: &[Operand]) -> Result<Vec<usize>, OpError> {
        Ok(ops[0].shape.to_vec())
    }

    fn emit(&self, cx: &EmitCtx) -> TokenStream {
        let rt = cx.rt;
        let alpha = self.0;
        let (x, out) = (&cx.inputs[0], cx.out);
        quote!(#rt::ops::activation::leaky_relu(#alpha, #x, #out);)
    }

    fn describe(&self) -> String {
        format!("alpha {}", self.0)
    }
}

/// `dropout(x, rate)`: Keras `Dropout`, the identity at inference (kept so a
/// port stays line by line with its Keras model).
pub static DROPOUT: OpDef = OpDef {
    name: "dropout",
    params: &[Param::tensor("x"), Param::optional("rate")],
    has_weights: false,
    build: |v| {
        // Keras requires 0 <= rate < 1; checked so a port stays faithful.
        v.float("rate", 0.5, 0.0..=0.999_999_9, "in [0, 1)")?;
        Ok(Box::new(Activation(Act::Linear)))
    },
};
