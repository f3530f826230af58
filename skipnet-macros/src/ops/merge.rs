//! Keras merge layers other than `add`: `subtract(a, b)`, `multiply`, `average`,
//! `maximum`, `minimum` (n-ary), with Keras's (NumPy's) broadcasting: shapes
//! aligned at the last axis, each axis equal or 1 (squeeze-and-excite's
//! `multiply(x, se)` of `[H, W, C]` and `[1, 1, C]`).

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
        broadcast_all(
            name,
            ops,
            "shapes that broadcast (each axis, from the last, equal or 1)",
            "and",
        )
    }

    fn fusable(&self) -> Fusable<'_> {
        match self.0 {
            Kind2::Multiply => Fusable::Product,
            _ => Fusable::No,
        }
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
        if cx.in_shapes.iter().all(|s| s[..] == cx.out_shape[..]) {
            return quote!(#rt::ops::merge::merge(#rt::ops::merge::Merge::#kind, &[#(#ins),*], #out););
        }
        emit_broadcast(cx, kind)
    }
}

/// The shape `ops` broadcast to (NumPy's rules), or the error of op `name`
/// ("`name` needs `needs`: <first operand> `joiner` <the one that does not
/// broadcast>"), or the rank error.
pub(super) fn broadcast_all(
    name: &str,
    ops: &[Operand],
    needs: &str,
    joiner: &str,
) -> Result<Vec<usize>, OpError> {
    let mut shape = ops[0].shape.to_vec();
    for (i, o) in ops.iter().enumerate().skip(1) {
        match broadcast(&shape, o.shape) {
            Some(s) => shape = s,
            None => {
                return op_err(
                    Blame::Operand(i),
                    format!(
                        "`{name}` needs {needs}: {} {joiner} {}",
                        ops[0].describe(),
                        o.describe()
                    ),
                )
            }
        }
    }
    if shape.len() > skipnet_runtime::ops::merge::MAX_RANK {
        return op_err(
            Blame::Call,
            format!(
                "`{name}` of rank {} tensors: at most {} axes",
                shape.len(),
                skipnet_runtime::ops::merge::MAX_RANK
            ),
        );
    }
    Ok(shape)
}

/// The broadcasting merge `kind` (a `Merge` variant's name) of the step's
/// operands, each with its shape.
pub(super) fn emit_broadcast(cx: &EmitCtx, kind: TokenStream) -> TokenStream {
    let rt = cx.rt;
    let (ins, out) = (cx.inputs, cx.out);
    let shapes = cx.in_shapes.iter().map(|s| quote!(&[#(#s),*]));
    let out_shape = cx.out_shape;
    quote!(#rt::ops::merge::merge_broadcast(
        #rt::ops::merge::Merge::#kind,
        &[#((&#ins[..], #shapes)),*],
        &[#(#out_shape),*],
        #out,
    );)
}

/// The shape `a` and `b` broadcast to (NumPy's rules), or `None`.
fn broadcast(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    let at = |s: &[usize], k: usize| (k + s.len()).checked_sub(rank).map_or(1, |i| s[i]);
    (0..rank)
        .map(|k| match (at(a, k), at(b, k)) {
            (x, y) if x == y || y == 1 => Some(x),
            (1, y) => Some(y),
            _ => None,
        })
        .collect()
}
