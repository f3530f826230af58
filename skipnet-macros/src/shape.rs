//! Stage 3: infers every value's shape and reports every mismatch, each at the
//! argument at fault. Knows nothing of memory or code.

use crate::diag::{error, in_context, shape_str, Errors};
use crate::graph::{Graph, ValueKind};
use crate::limits::MAX_ELEMENTS;
use crate::ops::{Blame, Operand};

/// The shape of every value of `g`, in `g.values` order.
pub fn infer(g: &Graph) -> syn::Result<Vec<Vec<usize>>> {
    let mut errors = Errors::default();
    let mut shapes: Vec<Option<Vec<usize>>> = Vec::with_capacity(g.values.len());
    for v in &g.values {
        let shape = match &v.kind {
            ValueKind::Input(i) => input_shape(&g.inputs[*i], &mut errors),
            ValueKind::Node(n) => node_shape(n, &shapes, &mut errors),
        };
        let shape = shape.filter(|s| fits(g, v, s, &mut errors));
        if let (Some(_), ValueKind::Node(n)) = (&shape, &v.kind) {
            check_weight_sizes(v, n, &shapes, &mut errors);
        }
        shapes.push(shape);
    }
    check_ascriptions(g, &shapes, &mut errors);
    errors.finish(shapes.into_iter().map(|s| s.unwrap_or_default()).collect())
}

/// An input's declared shape: an image `[H, W, C]` or a vector `[N]` of
/// dimensions in range.
fn input_shape(inp: &crate::graph::GraphInput, errors: &mut Errors) -> Option<Vec<usize>> {
    let mut dims = Vec::new();
    let mut ok = true;
    for (d, loc) in &inp.dims {
        if *d < 1 || *d > MAX_ELEMENTS as i128 {
            errors.push(error(
                *loc,
                format!(
                    "dimension of input `{}` must be between 1 and {MAX_ELEMENTS}, found {d}",
                    inp.name
                ),
            ));
            ok = false;
        } else {
            dims.push(*d as usize);
        }
    }
    if ok && !(dims.len() == 3 || dims.len() == 1) {
        errors.push(error(
            inp.loc,
            format!(
                "input `{}` must be an image `[H, W, C]` or a vector `[N]`, found {} dimensions",
                inp.name,
                dims.len()
            ),
        ));
        ok = false;
    }
    ok.then_some(dims)
}

/// A node's shape by its op's rule, the error placed at the argument the
/// rule blames; `None` (and no new error) when an operand already failed.
fn node_shape(
    n: &crate::graph::Node,
    shapes: &[Option<Vec<usize>>],
    errors: &mut Errors,
) -> Option<Vec<usize>> {
    let in_shapes: Vec<&Vec<usize>> = n
        .operands
        .iter()
        .map(|o| shapes[o.value].as_ref())
        .collect::<Option<_>>()?;
    let operands: Vec<Operand> = n
        .operands
        .iter()
        .zip(&in_shapes)
        .map(|(o, s)| Operand {
            shape: s,
            label: &o.label,
        })
        .collect();
    match n.op.infer(&operands) {
        Ok(s) => Some(s),
        Err(e) => {
            let loc = match e.blame {
                Blame::Operand(i) => n.operands.get(i).map(|o| o.loc).unwrap_or(n.call_loc),
                Blame::Arg(a) => n.arg_locs.get(a).copied().unwrap_or(n.call_loc),
                Blame::Call => n.call_loc,
            };
            errors.push(in_context(error(loc, e.msg), &n.context));
            None
        }
    }
}

/// Whether value `v` of shape `s` has at most [`MAX_ELEMENTS`] elements
/// (else an error at its call or input).
fn fits(g: &Graph, v: &crate::graph::Value, s: &[usize], errors: &mut Errors) -> bool {
    if elements(s).is_some_and(|e| e <= MAX_ELEMENTS) {
        return true;
    }
    let msg = format!(
        "`{}` would have shape {}, more than {MAX_ELEMENTS} elements",
        v.path,
        shape_str(s)
    );
    match &v.kind {
        ValueKind::Node(n) => errors.push(in_context(error(n.call_loc, msg), &n.context)),
        ValueKind::Input(i) => errors.push(error(g.inputs[*i].loc, msg)),
    }
    false
}

/// Every weight of node `n` (value `v`) has at most [`MAX_ELEMENTS`] elements.
fn check_weight_sizes(
    v: &crate::graph::Value,
    n: &crate::graph::Node,
    shapes: &[Option<Vec<usize>>],
    errors: &mut Errors,
) {
    let ins: Vec<&[usize]> = n
        .operands
        .iter()
        .filter_map(|o| shapes[o.value].as_deref())
        .collect();
    for w in n.op.weights(&ins) {
        if elements(&w.shape).is_none_or(|e| e > MAX_ELEMENTS) {
            errors.push(in_context(
                error(
                    n.call_loc,
                    format!(
                        "weight `{}.{}` would have shape {}, more than {MAX_ELEMENTS} elements",
                        v.path,
                        w.var,
                        shape_str(&w.shape)
                    ),
                ),
                &n.context,
            ));
        }
    }
}

/// Every `name: [dims] = ...` ascription matches the inferred shape.
fn check_ascriptions(g: &Graph, shapes: &[Option<Vec<usize>>], errors: &mut Errors) {
    for a in &g.ascriptions {
        let Some(found) = &shapes[a.value] else {
            continue;
        };
        let declared: Vec<i128> = a.dims.iter().map(|d| d.0).collect();
        let found_i: Vec<i128> = found.iter().map(|&d| d as i128).collect();
        if declared != found_i {
            let declared_s: Vec<String> = declared.iter().map(|d| d.to_string()).collect();
            errors.push(in_context(
                error(
                    a.loc,
                    format!(
                        "`{}` is declared as [{}] but its expression gives {}",
                        a.binding,
                        declared_s.join(", "),
                        shape_str(found)
                    ),
                ),
                &a.context,
            ));
        }
    }
}

/// Product of the dimensions, `None` on overflow.
pub fn elements(dims: &[usize]) -> Option<usize> {
    dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph;
    use crate::parse::Source;
    use quote::quote;

    fn shapes(ts: proc_macro2::TokenStream) -> syn::Result<Vec<Vec<usize>>> {
        let src: Source = syn::parse2(ts)?;
        let (g, errors) = graph::build(&src.blocks, &src.networks[0]);
        errors.finish(())?;
        infer(&g)
    }

    fn messages(ts: proc_macro2::TokenStream) -> Vec<String> {
        shapes(ts)
            .expect_err("should fail")
            .into_iter()
            .map(|e| e.to_string())
            .collect()
    }

    #[test]
    fn seed_unet_shapes() {
        let s = shapes(quote! {
            pub SkipUNet(x: [32, 32, 3]) -> out {
                conv1  = conv2d(x, 32, 3, strides = 2, padding = same, activation = relu);
                conv2  = conv2d(conv1, 64, 3, strides = 2, padding = same, activation = relu);
                up1    = conv2d(upsample2d(conv2, 2), 32, 3, padding = same, activation = relu);
                merge1 = concat(conv1, up1);
                p = max_pool2d(merge1, 3, strides = 2, padding = same);
                out    = conv2d(p, 3, (3, 1), dilation_rate = 2);
            }
        })
        .unwrap();
        assert_eq!(s[1], [16, 16, 32]);
        assert_eq!(s[2], [8, 8, 64]);
        assert_eq!(s[3], [16, 16, 64]);
        assert_eq!(s[4], [16, 16, 32]);
        assert_eq!(s[5], [16, 16, 64]);
        assert_eq!(s[6], [8, 8, 64]);
        assert_eq!(s[7], [4, 8, 3]);
    }

    #[test]
    fn mismatches_are_all_reported_with_shapes() {
        let m = messages(quote! {
            pub Net(x: [16, 16, 8]) -> (s, c) {
                a = conv2d(x, 64, 3, padding = same);
                b = conv2d(x, 32, 3, padding = same);
                s = add(a, b);
                d = max_pool2d(x, 2);
                c = concat(x, d);
                e: [16, 16, 9] = relu(x);
                f = conv2d(d, 4, 9);
            }
        });
        assert_eq!(
            m[0],
            "`add` needs identical shapes (or shapes that broadcast): `a` is [16, 16, 64] but `b` is [16, 16, 32]"
        );
        assert_eq!(
            m[1],
            "`concat` needs equal H and W: `x` is [16, 16, 8] but `d` is [8, 8, 8]"
        );
        assert!(
            m[2].contains("the kernel height 9 is more than the input height 8"),
            "{m:?}"
        );
        assert_eq!(
            m[3],
            "`e` is declared as [16, 16, 9] but its expression gives [16, 16, 8]"
        );
    }

    #[test]
    fn huge_shapes_are_errors_not_overflows() {
        let m = messages(quote! {
            pub Net(x: [65536, 65536, 3]) -> out { out = relu(x); }
        });
        assert!(m[0].contains("more than"), "{m:?}");
        let m = messages(quote! {
            pub Net(x: [8, 8, 4096]) -> out { out = conv2d(x, 65536, 3, padding = same); }
        });
        assert!(
            m[0].contains("weight `out.kernel` would have shape [3, 3, 4096, 65536]"),
            "{m:?}"
        );
        let m = messages(quote! {
            pub Net(x: [0, 4, 3]) -> out { out = relu(x); }
        });
        assert!(
            m[0].contains("dimension of input `x` must be between 1"),
            "{m:?}"
        );
    }
}
