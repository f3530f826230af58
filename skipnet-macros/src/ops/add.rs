//! `add`: Keras `Add` (n-ary, identical shapes).

use super::*;

pub static DEF: OpDef = OpDef {
    name: "add",
    params: &[Param::tensors("inputs")],
    has_weights: false,
    build: |_| Ok(Box::new(Add)),
};

pub struct Add;

impl Op for Add {
    fn fusable(&self) -> Fusable<'_> {
        Fusable::Sum
    }

    fn infer(&self, ops: &[Operand]) -> Result<Vec<usize>, OpError> {
        if ops.len() < 2 {
            return op_err(Blame::Call, "`add` needs at least two tensors");
        }
        for (i, o) in ops.iter().enumerate().skip(1) {
            if o.shape != ops[0].shape {
                return op_err(
                    Blame::Operand(i),
                    format!(
                        "`add` needs identical shapes: {} but {}",
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
        quote!(#rt::ops::add::add(&[#(#ins),*], #out);)
    }
}
