//! `add`: Keras `Add` (n-ary). Operands of identical shapes are summed by
//! `ops::add` or fused into the conv that produces the last one
//! (`fuse.rs`); shapes that only broadcast (a `[1, 1, C]` or `[C]` bias
//! added to a map) run as a broadcasting merge, as `merge.rs`'s ops do.

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
        let mut shape = ops[0].shape.to_vec();
        for (i, o) in ops.iter().enumerate().skip(1) {
            match super::merge::broadcast(&shape, o.shape) {
                Some(s) => shape = s,
                None => {
                    return op_err(
                        Blame::Operand(i),
                        format!(
                            "`add` needs identical shapes (or shapes that broadcast): {} but {}",
                            ops[0].describe(),
                            o.describe()
                        ),
                    )
                }
            }
        }
        if shape.len() > skipnet_runtime::ops::merge::MAX_RANK {
            // The rank error, worded as for the other merges.
            return super::merge::broadcast_all("add", ops);
        }
        Ok(shape)
    }

    fn emit(&self, cx: &EmitCtx) -> TokenStream {
        let rt = cx.rt;
        let (ins, out) = (cx.inputs, cx.out);
        if cx.in_shapes.iter().all(|s| s[..] == cx.out_shape[..]) {
            return quote!(#rt::ops::add::add(&[#(#ins),*], #out););
        }
        super::merge::emit_broadcast(cx, quote!(Add))
    }
}
