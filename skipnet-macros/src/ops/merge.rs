//! Keras merge layers other than `add`: `subtract(a, b)`, `multiply`, `average`,
//! `maximum`, `minimum` (n-ary), all on identical shapes.

use super::*;

const INPUTS: &[Param] = &[Param::tensors("inputs")];

macro_rules! merge_def {
    ($def:ident, $name:literal, $kind:ident) => {
        pub static $def: OpDef = OpDef {
            name: $name,
            params: INPUTS,
            has_weights: false,
            build: |_| Ok(Box::new(Merge(Kind2::$kind))),
        };
    };
}
merge_def!(SUBTRACT, "subtract", Subtract);
merge_def!(MULTIPLY, "multiply", Multiply);
merge_def!(AVERAGE, "average", Average);
merge_def!(MAXIMUM, "maximum", Maximum);
merge_def!(MINIMUM, "minimum", Minimum);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind2 {
    Subtract,
    Multiply,
    Average,
    Maximum,
    Minimum,
}

pub struct Merge(Kind2);

impl Merge {
    fn name(&self) -> &'static str {
        match self.0 {
            Kind2::Subtract => "subtract",
            Kind2::Multiply => "multiply",
            Kind2::Average => "average",
            Kind2::Maximum => "maximum",
            Kind2::Minimum => "minimum",
        }
    }
}

impl Op for Merge {
    fn infer(&self, ops: &[Operand]) -> Result<Vec<usize>, OpError> {
        let name = self.name();
        if self.0 == Kind2::Subtract && ops.len() != 2 {
            return op_err(
                Blame::Call,
                format!(
                    "`subtract` takes exactly two tensors (`a - b`), found {}",
                    ops.len()
                ),
            );
        }
        if ops.len() < 2 {
            return op_err(Blame::Call, format!("`{name}` needs at least two tensors"));
        }
        for (i, o) in ops.iter().enumerate().skip(1) {
            if o.shape != ops[0].shape {
                return op_err(
                    Blame::Operand(i),
                    format!(
                        "`{name}` needs identical shapes: {} but {}",
                        ops[0].describe(),
                        o.describe()
                    ),
                );
            }
        }
        Ok(ops[0].shape.to_vec())
    }

    fn emit(&self, cx: &EmitCtx) -> TokenStream {
        let rt = cx.rt;
        let (ins, out) = (cx.inputs, cx.out);
        let kind = match self.0 {
            Kind2::Subtract => quote!(Subtract),
            Kind2::Multiply => quote!(Multiply),
            Kind2::Average => quote!(Average),
            Kind2::Maximum => quote!(Maximum),
            Kind2::Minimum => quote!(Minimum),
        };
        quote!(#rt::ops::merge::merge(#rt::ops::merge::Merge::#kind, &[#(#ins),*], #out);)
    }
}
