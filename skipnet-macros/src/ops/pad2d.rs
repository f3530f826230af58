//! `zero_padding2d(x, padding)` and `cropping2d(x, cropping)`: Keras
//! `ZeroPadding2D` and `Cropping2D`. The amount is an integer (every side), an
//! `(h, w)` pair (top = bottom = h, left = right = w) or
//! `((top, bottom), (left, right))`, as in Keras.

use super::*;
use crate::parse::Expr;

pub static ZERO_PADDING: OpDef = OpDef {
    name: "zero_padding2d",
    params: &[Param::tensor("x"), Param::optional("padding")],
    has_weights: false,
    build: |v| build(v, "padding", true),
};

pub static CROPPING: OpDef = OpDef {
    name: "cropping2d",
    params: &[Param::tensor("x"), Param::optional("cropping")],
    has_weights: false,
    build: |v| build(v, "cropping", false),
};

pub struct Pad2d {
    pad: bool,
    /// (top, bottom, left, right)
    amount: [usize; 4],
}

fn build(v: &Values, arg: &'static str, pad: bool) -> syn::Result<Box<dyn Op>> {
    let op = if pad { "zero_padding2d" } else { "cropping2d" };
    let form = || {
        format!(
            "`{arg}` of `{op}` takes an integer, an `(h, w)` pair or `((top, bottom), (left, right))`"
        )
    };
    // Keras defaults: padding (1, 1), cropping (0, 0).
    let amount = match v.values.get(arg) {
        None if pad => [1; 4],
        None => [0; 4],
        Some(Expr::Tuple(items, loc)) => {
            if items.len() != 2 {
                return Err(error(*loc, form()));
            }
            match (&items[0], &items[1]) {
                (Expr::Tuple(a, la), Expr::Tuple(b, lb)) => {
                    if a.len() != 2 {
                        return Err(error(*la, form()));
                    }
                    if b.len() != 2 {
                        return Err(error(*lb, form()));
                    }
                    [
                        v.non_negative(arg, &a[0])?,
                        v.non_negative(arg, &a[1])?,
                        v.non_negative(arg, &b[0])?,
                        v.non_negative(arg, &b[1])?,
                    ]
                }
                (Expr::Tuple(_, l), _) | (_, Expr::Tuple(_, l)) => return Err(error(*l, form())),
                (h, w) => {
                    let (h, w) = (v.non_negative(arg, h)?, v.non_negative(arg, w)?);
                    [h, h, w, w]
                }
            }
        }
        Some(e) => [v.non_negative(arg, e)?; 4],
    };
    Ok(Box::new(Pad2d { pad, amount }))
}

impl Pad2d {
    fn name(&self) -> &'static str {
        if self.pad {
            "zero_padding2d"
        } else {
            "cropping2d"
        }
    }
}

impl Op for Pad2d {
    fn fusable(&self) -> Fusable<'_> {
        match self.pad {
            true => Fusable::ZeroPadding(self.amount),
            false => Fusable::No,
        }
    }

    fn infer(&self, ops: &[Operand]) -> Result<Vec<usize>, OpError> {
        let (h, w, c) = expect_hwc(self.name(), 0, &ops[0])?;
        let [t, b, l, r] = self.amount;
        let arg = if self.pad { "padding" } else { "cropping" };
        if self.pad {
            let grow = |n: usize, a: usize, b: usize| n.checked_add(a)?.checked_add(b);
            match (grow(h, t, b), grow(w, l, r)) {
                (Some(oh), Some(ow)) => Ok(vec![oh, ow, c]),
                _ => op_err(Blame::Arg(arg), "`zero_padding2d` output size overflows"),
            }
        } else {
            let keep =
                |n: usize, a: usize, b: usize| n.checked_sub(a)?.checked_sub(b).filter(|&k| k > 0);
            match (keep(h, t, b), keep(w, l, r)) {
                (Some(oh), Some(ow)) => Ok(vec![oh, ow, c]),
                _ => op_err(
                    Blame::Arg(arg),
                    format!(
                        "`cropping2d` removes {} of the {h} rows and {} of the {w} columns of `{}` {}: nothing would be left",
                        t.saturating_add(b),
                        l.saturating_add(r),
                        ops[0].label,
                        shape_str(ops[0].shape)
                    ),
                ),
            }
        }
    }

    fn emit(&self, cx: &EmitCtx) -> TokenStream {
        let rt = cx.rt;
        let input = hwc_tokens(rt, &cx.in_shapes[0]);
        let output = hwc_tokens(rt, cx.out_shape);
        let [t, _, l, _] = self.amount;
        let (top, left) = if self.pad {
            (t as isize, l as isize)
        } else {
            (-(t as isize), -(l as isize))
        };
        let (x, out) = (&cx.inputs[0], cx.out);
        quote!(#rt::ops::pad2d::shift2d(#input, #output, #top, #left, #x, #out);)
    }

    fn describe(&self) -> String {
        let [t, b, l, r] = self.amount;
        format!("(({t}, {b}), ({l}, {r}))")
    }
}
