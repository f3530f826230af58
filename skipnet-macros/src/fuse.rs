//! Stage 4a: fusions the graph allows, decided before memory planning.
//!
//! A nearest `upsample2d` whose every consumer is an op that can read its input
//! through the upsampling index arithmetic (`Op::reads_upsampled_input`) is
//! never stored: those consumers read its source directly.
//!
//! An `add` whose last-computed operand is an op that can add residuals in its
//! epilogue (`Op::accepts_residual`), used by nothing else, is computed by that
//! op: its output goes straight into the sum and is never stored on its own.

use crate::graph::{Graph, ValueId, ValueKind};
use std::collections::BTreeMap;

#[derive(Default)]
pub struct Fusions {
    /// Folded upsample -> (its source, its factor).
    folded: BTreeMap<ValueId, (ValueId, (usize, usize))>,
    /// Fused add -> (the producer that computes it, the other operands).
    sums: BTreeMap<ValueId, (ValueId, Vec<ValueId>)>,
    /// Producer -> the add it computes.
    producer_of: BTreeMap<ValueId, ValueId>,
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

    /// For a fused add: the node that computes it and the residual operands.
    pub fn sum(&self, add: ValueId) -> Option<(ValueId, &[ValueId])> {
        self.sums.get(&add).map(|(p, r)| (*p, r.as_slice()))
    }

    /// The values node `v` really reads once fusions apply: folded upsamples are
    /// read through, and a fused add reads its producer's operands plus the
    /// residuals (its producer is then never run on its own).
    pub fn reads(&self, g: &Graph, v: ValueId) -> Vec<ValueId> {
        let operands = |id: ValueId| match &g.values[id].kind {
            ValueKind::Node(n) => n.operands.iter().map(|o| self.source(o.value).0).collect(),
            ValueKind::Input(_) => Vec::new(),
        };
        match self.sum(v) {
            Some((p, rest)) => operands(p)
                .into_iter()
                .chain(rest.iter().copied())
                .collect(),
            None => operands(v),
        }
    }

    /// For a node whose output goes straight into an add: that add.
    pub fn feeds_sum(&self, v: ValueId) -> Option<ValueId> {
        self.producer_of.get(&v).copied()
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
    for (id, v) in g.values.iter().enumerate() {
        let ValueKind::Node(n) = &v.kind else {
            continue;
        };
        if !n.op.is_sum() {
            continue;
        }
        let Some(last) = n.operands.iter().map(|o| o.value).max() else {
            continue;
        };
        let ValueKind::Node(p) = &g.values[last].kind else {
            continue;
        };
        let once = n.operands.iter().filter(|o| o.value == last).count() == 1;
        let only_use = consumers.get(&last).is_some_and(|u| u.len() == 1);
        let is_output = g.outputs.iter().any(|(_, o)| *o == last);
        if p.op.accepts_residual()
            && once
            && only_use
            && !is_output
            && !f.producer_of.contains_key(&last)
        {
            let rest = n
                .operands
                .iter()
                .map(|o| o.value)
                .filter(|&o| o != last)
                .collect();
            f.sums.insert(id, (last, rest));
            f.producer_of.insert(last, id);
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

    #[test]
    fn add_fuses_into_its_last_operand_only_when_nothing_else_reads_it() {
        let src: Source = syn::parse2(quote! {
            pub Net(x: [4, 4, 2]) -> (s, t) {
                a = conv2d(x, 2, 3, padding = same);
                b = conv2d(x, 2, 1);
                s = add(a, b, x);
                c = conv2d(x, 2, 1);
                t = add(x, c, relu(c));
            }
        })
        .unwrap();
        let (g, errors) = crate::graph::build(&src.blocks, &src.networks[0]);
        errors.finish(()).unwrap();
        let f = find(&g);
        assert_eq!(f.sum(3), Some((2, &[1, 0][..])));
        assert_eq!(f.feeds_sum(2), Some(3));
        // `c` is also read by `relu`, and relu(c) is no conv: no fusion.
        assert_eq!(f.sum(7), None);
    }
}
