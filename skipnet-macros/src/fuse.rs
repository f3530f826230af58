//! Stage 4a: fusions the graph allows, decided before memory planning.
//!
//! A nearest `upsample2d` whose every consumer is an op that can read its input
//! through the upsampling index arithmetic (`Op::reads_upsampled_input`) is
//! never stored: those consumers read its source directly.

use crate::graph::{Graph, ValueId, ValueKind};
use std::collections::BTreeMap;

#[derive(Default)]
pub struct Fusions {
    /// Folded upsample -> (its source, its factor).
    folded: BTreeMap<ValueId, (ValueId, (usize, usize))>,
}

impl Fusions {
    /// What operand `operand` (a value id) of a node really reads, and through
    /// which upsampling factor.
    pub fn source(&self, operand: ValueId) -> (ValueId, (usize, usize)) {
        self.folded
            .get(&operand)
            .copied()
            .unwrap_or((operand, (1, 1)))
    }

    /// Whether `v` is an upsample that is never stored.
    pub fn is_folded(&self, v: ValueId) -> bool {
        self.folded.contains_key(&v)
    }
}

pub fn find(g: &Graph) -> Fusions {
    let mut consumers: BTreeMap<ValueId, Vec<(ValueId, usize)>> = BTreeMap::new();
    for (id, v) in g.values.iter().enumerate() {
        if let ValueKind::Node(n) = &v.kind {
            for (k, o) in n.operands.iter().enumerate() {
                consumers.entry(o.value).or_default().push((id, k));
            }
        }
    }
    let mut f = Fusions::default();
    for (id, v) in g.values.iter().enumerate() {
        let ValueKind::Node(n) = &v.kind else {
            continue;
        };
        let Some(factor) = n.op.nearest_upsample() else {
            continue;
        };
        if g.outputs.iter().any(|(_, o)| *o == id) {
            continue;
        }
        let Some(uses) = consumers.get(&id) else {
            continue;
        };
        let all_fold = uses.iter().all(|&(c, k)| {
            k == 0
                && matches!(&g.values[c].kind, ValueKind::Node(cn) if cn.op.reads_upsampled_input())
        });
        if all_fold {
            f.folded.insert(id, (n.operands[0].value, factor));
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::Source;
    use quote::quote;

    #[test]
    fn folds_only_when_every_consumer_can_read_through_it() {
        let src: Source = syn::parse2(quote! {
            pub Net(x: [4, 4, 2]) -> (a, b) {
                u = upsample2d(x, 2);
                a = conv2d(u, 2, 3, padding = same);
                v = upsample2d(x, (1, 2));
                w = conv2d(v, 2, 1);
                b = concat(w, v);
            }
        })
        .unwrap();
        let (g, errors) = crate::graph::build(&src.blocks, &src.networks[0]);
        errors.finish(()).unwrap();
        let f = find(&g);
        assert!(f.is_folded(1));
        assert_eq!(f.source(1), (0, (2, 2)));
        assert!(!f.is_folded(3), "v also feeds a concat");
        assert_eq!(f.source(3), (3, (1, 1)));
    }
}
