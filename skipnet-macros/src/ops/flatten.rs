//! `flatten`: Keras `Flatten`. Channels-last order is already the flattened
//! order, so the data is copied unchanged.

use super::*;

pub static DEF: OpDef = OpDef {
    name: "flatten",
    params: &[Param::tensor("x")],
    has_weights: false,
    build: |_| Ok(Box::new(Flatten)),
};

pub struct Flatten;

impl Op for Flatten {
    fn infer(&self, ops: &[Operand]) -> Result<Vec<usize>, OpError> {
        // Every shape passed the overflow-checked element limit, so this fits.
        Ok(vec![ops[0].shape.iter().product()])
    }

    fn emit(&self, cx: &EmitCtx) -> TokenStream {
        let (x, out) = (&cx.inputs[0], cx.out);
        quote!((#out).copy_from_slice(#x);)
    }
}
