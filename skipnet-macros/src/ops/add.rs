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
        // A residual add of mismatched maps is the usual mistake: say what
        // it needs first.
        super::merge::broadcast_all(
            "add",
            ops,
            "identical shapes (or shapes that broadcast)",
            "but",
        )
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
