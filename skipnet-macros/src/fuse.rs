//! Stage 4: fusions the graph allows, decided before memory planning. [`find`]
//! applies eight rules in order, each a function of its own:
//!
//! 1. [`fold_upsamples`]: a nearest `upsample2d` whose every consumer can read
//!    its input through the upsampling index arithmetic
//!    (`Op::reads_upsampled_input`) is never stored: those consumers read its
//!    source directly.
//! 2. [`fold_paddings`]: likewise a `zero_padding2d` whose every consumer is a
//!    conv that can read through a padding (`Op::reads_padded_input`): the
//!    conv's window moves instead.
//! 3. [`fold_batch_norms`]: a `batch_norm` (or `layer_scale`) after a linear
//!    conv read by nothing else is folded into the conv's kernel and bias at
//!    load time.
//! 4. [`fuse_sums`]: an `add` whose last-computed operand can add residuals in
//!    its epilogue (`Op::accepts_residual`), used by nothing else, is computed
//!    by that op (in a dying residual's memory when it can), with an
//!    activation after it: its output goes straight into the sum.
//! 5. [`fuse_lone_batch_norms`]: a folded batch norm no sum took is computed
//!    by its conv, with an activation after it.
//! 6. [`fuse_lone_activations`]: an activation whose operand is a conv read
//!    by nothing else (and taken by no rule above) is computed by that conv's
//!    epilogue: ConvNeXt's `dense -> gelu`, a hand-written `relu(conv2d(..))`.
//! 7. [`write_into_concats`]: a concat operand read by nothing else is written
//!    by its producer straight into its slice of the concat's buffer.
//! 8. [`fold_channel_scales`]: a `multiply` of a map by a per-channel gate
//!    (squeeze-and-excite) read only by a 1x1 conv is never stored: the conv
//!    reads the map and scales its kernel's input channels by the gate, where
//!    that kernel is no larger than the map.

use crate::graph::{Graph, ValueId, ValueKind};
use crate::ops::{Act, InputView};
use std::collections::BTreeMap;

/// An `add` computed in the epilogue of the op producing one of its operands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sum {
    /// The node that runs (a conv), its output never stored on its own.
    pub producer: ValueId,
    /// The `add` node, if any (a batch norm fold alone has none).
    pub add: Option<ValueId>,
    /// A `batch_norm` folded into the producer (scaled kernel, shifted bias).
    pub bn: Option<ValueId>,
    /// Every other operand of the add, in order.
    pub residuals: Vec<ValueId>,
    /// A residual that dies at the add and whose buffer the sum is computed
    /// in (one of `residuals`).
    pub in_place: Option<ValueId>,
    /// An activation applied to the sum by the same epilogue (`relu(add(..))`):
    /// its node and function.
    pub post: Option<(ValueId, Act)>,
}

#[derive(Default)]
pub struct Fusions {
    /// Folded upsample or zero padding -> (its source, how its consumers
    /// read the source).
    folded: BTreeMap<ValueId, (ValueId, InputView)>,
    /// The value a fused sum stores (the add, or its post activation) -> the sum.
    sums: BTreeMap<ValueId, Sum>,
    /// A node run inside another's step (a sum's producer, or an add whose
    /// activation stores the result) -> the value that step stores.
    computed_into: BTreeMap<ValueId, ValueId>,
    /// A concat operand written by its producer straight into the concat's
    /// buffer -> where (see [`Slot`]).
    slots: BTreeMap<ValueId, Slot>,
    /// A conv -> the `batch_norm` folded into its weights at load time.
    bn_of: BTreeMap<ValueId, ValueId>,
    /// A conv whose operand 0 is a folded `multiply` -> that product's
    /// per-channel operand (the gate its kernel is scaled by).
    input_scale: BTreeMap<ValueId, ValueId>,
    /// A folded `multiply` -> the conv that takes its gate.
    scaled_into: BTreeMap<ValueId, ValueId>,
}

/// Where a concat operand lives inside the concat's buffer: viewed as `outer`
/// rows of `row` floats, the operand is `[lo, hi)` of every row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    pub concat: ValueId,
    pub lo: usize,
    pub hi: usize,
    pub row: usize,
}

impl Fusions {
    /// What operand `operand` (a value id) of a node really reads, and how.
    pub fn source(&self, operand: ValueId) -> (ValueId, InputView) {
        self.folded
            .get(&operand)
            .copied()
            .unwrap_or((operand, InputView::PLAIN))
    }

    /// The shapes node `n`'s operands have as stored (a folded upsample's or
    /// padding's source, not the folded op), and how operand 0 is read
    /// through them (`InputView::PLAIN` when nothing is folded): what an op's
    /// geometry, packing and scratch need.
    pub fn stored_operands(
        &self,
        n: &crate::graph::Node,
        shapes: &[Vec<usize>],
    ) -> (Vec<Vec<usize>>, InputView) {
        let ins = n
            .operands
            .iter()
            .map(|o| shapes[self.source(o.value).0].clone())
            .collect();
        let up = n
            .operands
            .first()
            .map(|o| self.source(o.value).1)
            .unwrap_or(InputView::PLAIN);
        (ins, up)
    }

    /// Whether `v` is an upsample or a zero padding that is never stored.
    pub fn is_folded(&self, v: ValueId) -> bool {
        self.folded.contains_key(&v)
    }

    /// The fused sum whose result is stored as `v`.
    pub fn sum(&self, v: ValueId) -> Option<&Sum> {
        self.sums.get(&v)
    }

    /// The values node `v` really reads once fusions apply: folded upsamples are
    /// read through, and a fused sum reads its producer's operands plus the
    /// residuals (its producer is then never run on its own).
    pub fn reads(&self, g: &Graph, v: ValueId) -> Vec<ValueId> {
        let operands = |id: ValueId| match &g.values[id].kind {
            ValueKind::Node(n) => {
                let mut r: Vec<ValueId> =
                    n.operands.iter().map(|o| self.source(o.value).0).collect();
                r.extend(self.input_scale(id));
                r
            }
            ValueKind::Input(_) => Vec::new(),
        };
        match self.sum(v) {
            Some(s) => {
                let mut r: Vec<ValueId> = operands(s.producer);
                r.extend(&s.residuals);
                r
            }
            None => operands(v),
        }
    }

    /// The operand whose memory `v` is computed in, if any.
    pub fn in_place_of(&self, v: ValueId) -> Option<ValueId> {
        self.sum(v).and_then(|s| s.in_place)
    }

    /// For a node run inside another's step: the value that step stores.
    pub fn computed_into(&self, v: ValueId) -> Option<ValueId> {
        self.computed_into.get(&v).copied()
    }

    /// For a conv: the `batch_norm` folded into its kernel and bias.
    pub fn folded_bn(&self, conv: ValueId) -> Option<ValueId> {
        self.bn_of.get(&conv).copied()
    }

    /// For a conv reading a folded `multiply`: the per-channel gate its
    /// kernel is scaled by (rule 8).
    pub fn input_scale(&self, conv: ValueId) -> Option<ValueId> {
        self.input_scale.get(&conv).copied()
    }

    /// For a folded `multiply`: the conv whose kernel takes its gate.
    pub fn scaled_into(&self, product: ValueId) -> Option<ValueId> {
        self.scaled_into.get(&product).copied()
    }

    /// For a concat operand produced in place: its slot in the concat.
    pub fn slot(&self, v: ValueId) -> Option<Slot> {
        self.slots.get(&v).copied()
    }
}

/// Decides the fusions. `shapes`: every value's shape. `in_place_ok(producer)`:
/// whether that producer's epilogue may start from a residual already in its
/// output.
pub fn find(
    g: &Graph,
    shapes: &[Vec<usize>],
    in_place_ok: &dyn Fn(ValueId) -> bool,
    quantized: bool,
) -> Fusions {
    let uses = Uses::of(g);
    let mut f = Fusions::default();
    fold_upsamples(g, &uses, &mut f);
    fold_paddings(g, &uses, &mut f);
    // In int8 a sum rescales its operands and a batch norm is already folded
    // by TFLite's converter: only the rules that move data apply.
    if !quantized {
        let conv_of_bn = fold_batch_norms(g, &uses, &mut f);
        fuse_sums(g, shapes, &uses, &conv_of_bn, in_place_ok, &mut f);
        fuse_lone_batch_norms(&uses, &conv_of_bn, &mut f);
        fuse_lone_activations(g, &uses, &mut f);
    }
    write_into_concats(g, shapes, &uses, &mut f);
    if !quantized {
        fold_channel_scales(g, shapes, &uses, &mut f);
    }
    f
}

/// Who reads each value: `(node, operand index)` pairs, and the outputs.
struct Uses<'g> {
    g: &'g Graph,
    consumers: BTreeMap<ValueId, Vec<(ValueId, usize)>>,
}

impl<'g> Uses<'g> {
    fn of(g: &'g Graph) -> Uses<'g> {
        let mut consumers: BTreeMap<ValueId, Vec<(ValueId, usize)>> = BTreeMap::new();
        for (id, v) in g.values.iter().enumerate() {
            if let ValueKind::Node(n) = &v.kind {
                for (k, o) in n.operands.iter().enumerate() {
                    consumers.entry(o.value).or_default().push((id, k));
                }
            }
        }
        Uses { g, consumers }
    }

    fn is_output(&self, v: ValueId) -> bool {
        self.g.outputs.iter().any(|(_, o)| *o == v)
    }

    /// `v` has exactly one reader (one operand of one node).
    fn only_use(&self, v: ValueId) -> bool {
        self.consumers.get(&v).is_some_and(|u| u.len() == 1)
    }

    /// The activation node that is `v`'s only reader (`v` not an output),
    /// which the epilogue computing `v` can apply too.
    fn post_activation(&self, v: ValueId) -> Option<(ValueId, Act)> {
        let u = self
            .consumers
            .get(&v)
            .filter(|u| u.len() == 1 && !self.is_output(v))?;
        match &self.g.values[u[0].0].kind {
            ValueKind::Node(n) => n.op.fusable().activation().map(|a| (u[0].0, a)),
            ValueKind::Input(_) => None,
        }
    }
}

/// Rule 8: `multiply(map, gate)` with `gate` of shape `[1, 1, C]` or `[C]`
/// (squeeze-and-excite), read only by a conv that can scale its kernel's
/// input channels (`Op::scaled_kernel_len`, a 1x1 conv) as its operand 0:
/// the product is never stored and the conv scales its packed kernel by the
/// gate before it runs, a pass over the kernel instead of one over the map,
/// taken only where the kernel is no larger than the map (EfficientNetB0's
/// last blocks, 7x7x1152 into 320 filters, keep the product). Last: the
/// rules before it never take a product, and the product's operands must
/// not be folded themselves.
fn fold_channel_scales(g: &Graph, shapes: &[Vec<usize>], uses: &Uses, f: &mut Fusions) {
    for (id, v) in g.values.iter().enumerate() {
        let ValueKind::Node(n) = &v.kind else {
            continue;
        };
        if !n.op.fusable().is_product() || n.operands.len() != 2 || uses.is_output(id) {
            continue;
        }
        let Some(&[(conv, 0)]) = uses.consumers.get(&id).map(Vec::as_slice) else {
            continue;
        };
        let out = &shapes[id];
        let per_channel = |s: &[usize]| {
            out.len() == 3 && (s == [1, 1, out[2]] || s == [out[2]]) && out[..2] != [1, 1]
        };
        let (a, b) = (n.operands[0].value, n.operands[1].value);
        let (map, gate) = match (&shapes[a] == out, &shapes[b] == out) {
            (true, false) if per_channel(&shapes[b]) => (a, b),
            (false, true) if per_channel(&shapes[a]) => (b, a),
            _ => continue,
        };
        if f.is_folded(map) || f.is_folded(gate) || f.is_folded(conv) {
            continue;
        }
        let ValueKind::Node(cn) = &g.values[conv].kind else {
            continue;
        };
        let map_len: usize = out.iter().product();
        let fits = cn
            .op
            .scaled_kernel_len(std::slice::from_ref(out), &shapes[conv])
            .is_some_and(|k| k <= map_len);
        if fits {
            f.folded.insert(id, (map, InputView::PLAIN));
            f.input_scale.insert(conv, gate);
            f.scaled_into.insert(id, conv);
        }
    }
}

/// Rule 1: nearest upsamples read through by their consumers.
fn fold_upsamples(g: &Graph, uses: &Uses, f: &mut Fusions) {
    fold_reads(
        g,
        uses,
        f,
        |op| {
            op.fusable().nearest_upsample().map(|upsample| InputView {
                upsample,
                ..InputView::PLAIN
            })
        },
        |op| op.reads_upsampled_input(),
    );
}

/// Rule 2: zero paddings read through by the convs after them (after rule
/// 1: a padding's own operand is then never a folded upsample, as a padding
/// does not read through one).
fn fold_paddings(g: &Graph, uses: &Uses, f: &mut Fusions) {
    fold_reads(
        g,
        uses,
        f,
        |op| {
            op.fusable().zero_padding().map(|pad| InputView {
                pad,
                ..InputView::PLAIN
            })
        },
        |op| op.reads_padded_input(),
    );
}

/// Rule 3: a batch norm (or a layer scale, `x * gamma`) whose operand is a
/// linear conv read by nothing else is folded into that conv's kernel and
/// bias at load time. Returns each folded batch norm's conv.
fn fold_batch_norms(g: &Graph, uses: &Uses, f: &mut Fusions) -> BTreeMap<ValueId, ValueId> {
    let mut conv_of_bn = BTreeMap::new();
    for (id, v) in g.values.iter().enumerate() {
        let ValueKind::Node(n) = &v.kind else {
            continue;
        };
        if n.op.fusable().channel_affine().is_none() {
            continue;
        }
        let Some(c) = n.operands.first().map(|o| o.value) else {
            continue;
        };
        if let ValueKind::Node(cn) = &g.values[c].kind {
            if cn.op.folds_batch_norm() && uses.only_use(c) && !uses.is_output(c) {
                conv_of_bn.insert(id, c);
                f.bn_of.insert(c, id);
            }
        }
    }
    conv_of_bn
}

/// Rule 4: an `add` of same-shaped operands whose last-computed operand (or that operand's folded
/// batch norm's conv) can add residuals in its epilogue, and is read by
/// nothing else, is computed by that producer, with an activation that is
/// the sum's only reader.
fn fuse_sums(
    g: &Graph,
    shapes: &[Vec<usize>],
    uses: &Uses,
    conv_of_bn: &BTreeMap<ValueId, ValueId>,
    in_place_ok: &dyn Fn(ValueId) -> bool,
    f: &mut Fusions,
) {
    for (id, v) in g.values.iter().enumerate() {
        let ValueKind::Node(n) = &v.kind else {
            continue;
        };
        // A broadcasting add (a `[1, 1, C]` operand) is no conv epilogue.
        if !n.op.fusable().is_sum() || n.operands.iter().any(|o| shapes[o.value] != shapes[id]) {
            continue;
        }
        let Some(last) = n.operands.iter().map(|o| o.value).max() else {
            continue;
        };
        // A folded batch norm's conv computes it, so it can take the sum too.
        let bn = conv_of_bn.contains_key(&last).then_some(last);
        let producer = conv_of_bn.get(&last).copied().unwrap_or(last);
        let ValueKind::Node(p) = &g.values[producer].kind else {
            continue;
        };
        let once = n.operands.iter().filter(|o| o.value == last).count() == 1;
        if !(p.op.accepts_residual()
            && once
            && uses.only_use(last)
            && !uses.is_output(last)
            && !f.computed_into.contains_key(&last))
        {
            continue;
        }
        let residuals: Vec<ValueId> = n
            .operands
            .iter()
            .map(|o| o.value)
            .filter(|&o| o != last)
            .collect();
        let in_place = in_place_ok(producer)
            .then(|| in_place_residual(g, uses, f, id, p, &residuals))
            .flatten();
        let post = uses.post_activation(id);
        let stored = post.map(|(c, _)| c).unwrap_or(id);
        f.computed_into.insert(producer, stored);
        f.computed_into.insert(last, stored);
        if stored != id {
            f.computed_into.insert(id, stored);
        }
        let sum = Sum {
            producer,
            add: Some(id),
            bn,
            residuals,
            in_place,
            post,
        };
        f.sums.insert(stored, sum);
    }
}

/// The residual of `add` the sum may overwrite: one whose readers all come
/// no later than the add, that the producer `p` does not read, and that is
/// a node's stored output (not an input, an output or a never-stored
/// value). The planner confirms it dies there, else the sum gets its own
/// buffer.
fn in_place_residual(
    g: &Graph,
    uses: &Uses,
    f: &Fusions,
    add: ValueId,
    p: &crate::graph::Node,
    residuals: &[ValueId],
) -> Option<ValueId> {
    let producer_reads: Vec<ValueId> = p.operands.iter().map(|o| f.source(o.value).0).collect();
    residuals.iter().copied().find(|&r| {
        matches!(g.values[r].kind, ValueKind::Node(_))
            && residuals.iter().filter(|&&o| o == r).count() == 1
            && !producer_reads.contains(&r)
            && uses
                .consumers
                .get(&r)
                .is_some_and(|u| u.iter().all(|&(c, _)| c <= add))
            && !uses.is_output(r)
            && !f.is_folded(r)
            && !f.computed_into.contains_key(&r)
    })
}

/// Rule 5: folded batch norms no sum took: the conv computes the
/// normalized map, with an activation that is the batch norm's only reader.
fn fuse_lone_batch_norms(uses: &Uses, conv_of_bn: &BTreeMap<ValueId, ValueId>, f: &mut Fusions) {
    for (&b, &c) in conv_of_bn {
        if f.computed_into.contains_key(&b) {
            continue;
        }
        let post = uses.post_activation(b);
        let stored = post.map(|(a, _)| a).unwrap_or(b);
        f.computed_into.insert(c, stored);
        if stored != b {
            f.computed_into.insert(b, stored);
        }
        let sum = Sum {
            producer: c,
            add: None,
            bn: Some(b),
            residuals: Vec::new(),
            in_place: None,
            post,
        };
        f.sums.insert(stored, sum);
    }
}

/// Rule 6: an activation node whose operand is a conv (`Op::accepts_residual`:
/// its epilogue takes a post activation) read by nothing else, and not
/// already computed inside another step, is applied by that conv's
/// epilogue: the conv's own output is never stored.
fn fuse_lone_activations(g: &Graph, uses: &Uses, f: &mut Fusions) {
    for (c, v) in g.values.iter().enumerate() {
        let ValueKind::Node(n) = &v.kind else {
            continue;
        };
        if !n.op.accepts_residual() || f.computed_into.contains_key(&c) || f.sums.contains_key(&c) {
            continue;
        }
        let Some(post) = uses.post_activation(c) else {
            continue;
        };
        f.computed_into.insert(c, post.0);
        let sum = Sum {
            producer: c,
            add: None,
            bn: None,
            residuals: Vec::new(),
            in_place: None,
            post: Some(post),
        };
        f.sums.insert(post.0, sum);
    }
}

/// Rule 7: concat operands whose only reader is the concat are produced
/// straight into their slice of its buffer: strided (every row of the
/// concat) by ops that can write so, contiguous (the concat has one row) by
/// any op.
fn write_into_concats(g: &Graph, shapes: &[Vec<usize>], uses: &Uses, f: &mut Fusions) {
    for (id, v) in g.values.iter().enumerate() {
        let ValueKind::Node(n) = &v.kind else {
            continue;
        };
        let Some(axis) = n.op.fusable().concat_axis(shapes[id].len()) else {
            continue;
        };
        if f.computed_into.contains_key(&id) || f.sum(id).is_some() {
            continue;
        }
        let out = &shapes[id];
        let outer: usize = out[..axis].iter().product();
        let total: usize = out.iter().product();
        if outer == 0 || total == 0 {
            continue;
        }
        let row = total / outer;
        let mut lo = 0;
        for o in &n.operands {
            let m = o.value;
            let chunk: usize = shapes[m].iter().product::<usize>() / outer;
            let slot = Slot {
                concat: id,
                lo,
                hi: lo + chunk,
                row,
            };
            lo += chunk;
            let ValueKind::Node(mn) = &g.values[m].kind else {
                continue;
            };
            let writable = if outer == 1 {
                mn.op.fusable().concat_axis(shapes[m].len()).is_none()
            } else {
                mn.op.writes_strided()
            };
            if writable
                && n.operands.iter().filter(|p| p.value == m).count() == 1
                && uses.only_use(m)
                && !uses.is_output(m)
                && !f.is_folded(m)
                && !f.computed_into.contains_key(&m)
                && f.sum(m).is_none()
            {
                f.slots.insert(m, slot);
            }
        }
    }
}

/// Folds every node that `view_of` gives a view for (an upsample, a zero
/// padding), is not an output, and whose every consumer reads it as operand
/// 0 through such a view (`reads_through`): the node is never stored, and
/// its consumers read its source through the view. MobileNetV2's
/// `zero_padding2d(x, ((0, 1), (0, 1)))` before each stride-2 depthwise conv
/// copied 4.8 MB in its first block; the U-Nets' upsamples as much.
fn fold_reads(
    g: &Graph,
    uses: &Uses,
    f: &mut Fusions,
    view_of: impl Fn(&dyn crate::ops::Op) -> Option<InputView>,
    reads_through: impl Fn(&dyn crate::ops::Op) -> bool,
) {
    for (id, v) in g.values.iter().enumerate() {
        let ValueKind::Node(n) = &v.kind else {
            continue;
        };
        let Some(view) = view_of(n.op.as_ref()) else {
            continue;
        };
        if uses.is_output(id) {
            continue;
        }
        let Some(consumers) = uses.consumers.get(&id) else {
            continue;
        };
        let all_fold = consumers.iter().all(|&(c, k)| {
            k == 0
                && matches!(&g.values[c].kind, ValueKind::Node(cn) if reads_through(cn.op.as_ref()))
        });
        let source = n.operands[0].value;
        if all_fold && !f.is_folded(source) {
            f.folded.insert(id, (source, view));
        }
    }
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
        let f = find(&g, &shapes(&g), &|_| true, false);
        assert!(f.is_folded(1));
        let up = InputView {
            upsample: (2, 2),
            ..InputView::PLAIN
        };
        assert_eq!(f.source(1), (0, up));
        assert!(!f.is_folded(3), "v also feeds a concat");
        assert_eq!(f.source(3), (3, InputView::PLAIN));
    }

    #[test]
    fn a_gated_product_read_by_a_small_1x1_conv_scales_its_kernel() {
        let g = graph(quote! {
            pub Net(x: [6, 6, 8]) -> (a, b, c, d) {
                gate = global_avg_pool2d(x, keepdims = true);
                p = multiply(gate, x);
                a = conv2d(p, 4, 1);
                q = multiply(x, gate);
                b = conv2d(q, 4, 3, padding = same);
                r = multiply(x, gate);
                c = conv2d(r, 40, 1);
                s = multiply(x, gate);
                e = conv2d(s, 8, 1);
                d = add(e, s);
            }
        });
        let f = find(&g, &shapes(&g), &|_| true, false);
        // Values: x 0, gate 1, p 2, a 3, q 4, b 5, r 6, c 7, s 8, e 9, d 10.
        // 8 x 32 packed floats <= 6 x 6 x 8: folded, the gate read by `a`.
        assert!(f.is_folded(2));
        assert_eq!(f.source(2), (0, InputView::PLAIN));
        assert_eq!(f.input_scale(3), Some(1));
        assert_eq!(f.scaled_into(2), Some(3));
        assert!(f.reads(&g, 3).contains(&1), "the conv keeps the gate alive");
        // A 3x3 conv does not take it; 40 filters (8 x 64 floats) exceed the
        // map; a product with two readers is stored.
        for (product, conv) in [(4, 5), (6, 7), (8, 9)] {
            assert!(!f.is_folded(product), "{product}");
            assert_eq!(f.input_scale(conv), None);
        }
        // In int8 nothing is folded.
        let q = find(&g, &shapes(&g), &|_| true, true);
        assert!(!q.is_folded(2));
    }

    fn shapes(g: &Graph) -> Vec<Vec<usize>> {
        crate::shape::infer(g).map_err(|e| e.to_string()).unwrap()
    }

    #[test]
    fn concat_operands_read_only_by_it_are_produced_in_its_buffer() {
        let g = graph(quote! {
            pub Net(x: [4, 4, 2]) -> (c, v) {
                a = conv2d(x, 3, 3, padding = same);
                b = conv2d(x, 5, 1);
                m = max_pool2d(a, 1);
                c = concat(a, b, m, relu(b));
                v = concat(global_avg_pool2d(b), global_max_pool2d(a));
            }
        });
        let f = find(&g, &shapes(&g), &|_| true, false);
        // Values: x 0, a 1, b 2, m 3, relu 4, c 5, gap 6, gmp 7, v 8.
        // `a` and `b` have other readers; `m` is no conv (c has 16 rows).
        assert_eq!(f.slot(1), None);
        assert_eq!(f.slot(2), None);
        assert_eq!(f.slot(3), None);
        assert_eq!(f.slot(4), None);
        // `v` is one row: any producer writes its contiguous part.
        let s = |concat, lo, hi| {
            Some(Slot {
                concat,
                lo,
                hi,
                row: 8,
            })
        };
        assert_eq!(f.slot(6), s(8, 0, 5));
        assert_eq!(f.slot(7), s(8, 5, 8));
        let g = graph(quote! {
            pub Net(x: [4, 4, 2]) -> c {
                a = conv2d(x, 3, 3, padding = same);
                b = conv2d(x, 5, 1);
                c = concat(x, a, b);
            }
        });
        let f = find(&g, &shapes(&g), &|_| true, false);
        assert_eq!(f.slot(0), None, "inputs are copied");
        assert_eq!(
            f.slot(1),
            Some(Slot {
                concat: 3,
                lo: 2,
                hi: 5,
                row: 10
            })
        );
        assert_eq!(
            f.slot(2),
            Some(Slot {
                concat: 3,
                lo: 5,
                hi: 10,
                row: 10
            })
        );
        let two = graph(quote! {
            pub Net(x: [4, 4, 2]) -> (c, d) {
                a = conv2d(x, 3, 3, padding = same);
                c = concat(a, x);
                d = concat(x, a);
            }
        });
        let f = find(&two, &shapes(&two), &|_| true, false);
        assert_eq!(
            f.slot(1),
            None,
            "a tensor used by two concats is copied into both"
        );
    }

    #[test]
    fn batch_norm_folds_into_a_linear_conv_and_keeps_its_sum() {
        let g = graph(quote! {
            pub Net(x: [4, 4, 2]) -> out {
                a = conv2d(x, 2, 3, padding = same);
                bn_a = batch_norm(a);
                b = conv2d(x, 2, 1, activation = relu);
                bn_b = batch_norm(b);
                c = conv2d(relu(bn_a), 2, 1, use_bias = false);
                bn_c = batch_norm(c);
                out = relu(add(bn_b, bn_c));
            }
        });
        let f = find(&g, &shapes(&g), &|_| true, false);
        // Values: x 0, a 1, bn_a 2, b 3, bn_b 4, relu 5, c 6, bn_c 7, add 8, relu 9.
        assert_eq!(f.folded_bn(1), Some(2));
        assert_eq!(
            f.folded_bn(3),
            None,
            "b has an activation before its batch norm"
        );
        let s = f.sum(5).unwrap();
        assert_eq!((s.producer, s.bn, s.add), (1, Some(2), None));
        assert_eq!(s.post, Some((5, Act::Relu)));
        let s = f.sum(9).unwrap();
        assert_eq!((s.producer, s.bn, s.add), (6, Some(7), Some(8)));
        assert_eq!(s.residuals, [4]);
        assert_eq!(s.post, Some((9, Act::Relu)));
    }

    fn graph(src: proc_macro2::TokenStream) -> Graph {
        let src: Source = syn::parse2(src).unwrap();
        let (g, errors) = crate::graph::build(&src.blocks, &src.networks[0]);
        errors.finish(()).unwrap();
        g
    }

    #[test]
    fn activation_of_a_sum_runs_in_the_same_epilogue() {
        let g = graph(quote! {
            pub Net(x: [4, 4, 2]) -> out {
                a = conv2d(x, 2, 3, padding = same);
                b = conv2d(a, 2, 3, padding = same);
                c = conv2d(b, 2, 3, padding = same);
                r = relu(add(c, a));
                out = conv2d(r, 2, 1);
            }
        });
        let f = find(&g, &shapes(&g), &|_| true, false);
        // Values: x 0, a 1, b 2, c 3, add 4, relu 5, out 6.
        let s = f.sum(5).unwrap();
        assert_eq!((s.producer, s.add, s.in_place), (3, Some(4), Some(1)));
        assert_eq!(s.post, Some((5, Act::Relu)));
        assert!(f.sum(4).is_none());
        assert_eq!(f.computed_into(4), Some(5));
        assert_eq!(f.computed_into(3), Some(5));
        assert_eq!(f.reads(&g, 5), [2, 1]);
        // A producer that cannot start from a residual: a fresh buffer.
        let f = find(&g, &shapes(&g), &|_| false, false);
        assert_eq!(f.sum(5).unwrap().in_place, None);
    }

    #[test]
    fn a_lone_activation_runs_in_its_convs_epilogue() {
        let g = graph(quote! {
            pub Net(x: [4, 4, 2]) -> (out, s) {
                a = conv2d(x, 8, 3, padding = same);
                g = gelu(a);
                b = conv2d(g, 2, 1);
                r = relu(b);
                r2 = relu6(r);
                c = conv2d(x, 2, 1);
                s = softmax(c);
                d = conv2d(x, 2, 1);
                e = relu(d);
                out = add(r2, e, d);
            }
        });
        let f = find(&g, &shapes(&g), &|_| true, false);
        // Values: x 0, a 1, g 2, b 3, r 4, r2 5, c 6, s 7, d 8, e 9, out 10.
        let s = f.sum(2).unwrap();
        assert_eq!((s.producer, s.add, s.bn), (1, None, None));
        assert_eq!(s.post, Some((2, Act::Gelu)));
        assert_eq!(f.computed_into(1), Some(2));
        assert_eq!(f.reads(&g, 2), [0]);
        // The conv takes one activation; the one after it is a step.
        assert_eq!(f.sum(4).unwrap().post, Some((4, Act::Relu)));
        assert!(f.sum(5).is_none());
        // Softmax needs whole rows; `d` has a second reader.
        assert!(f.sum(7).is_none() && f.computed_into(6).is_none());
        assert!(f.sum(9).is_none() && f.computed_into(8).is_none());
    }

    #[test]
    fn a_residual_read_elsewhere_is_not_overwritten() {
        let g = graph(quote! {
            pub Net(x: [4, 4, 2]) -> (s, t) {
                a = conv2d(x, 2, 3, padding = same);
                b = conv2d(x, 2, 1);
                s = add(a, b);
                t = relu(a);
            }
        });
        let f = find(&g, &shapes(&g), &|_| true, false);
        assert_eq!(f.sum(3).unwrap().in_place, None);
        // Nor one the producer reads: it would be overwritten while read.
        let g = graph(quote! {
            pub Net(x: [4, 4, 2]) -> s {
                a = conv2d(x, 2, 3, padding = same);
                b = conv2d(a, 2, 1);
                s = add(a, b);
            }
        });
        let f = find(&g, &shapes(&g), &|_| true, false);
        assert_eq!(f.sum(3).unwrap().in_place, None);
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
        let f = find(&g, &shapes(&g), &|_| true, false);
        let s = f.sum(3).unwrap();
        assert_eq!((s.producer, s.add), (2, Some(3)));
        assert_eq!(s.residuals, [1, 0]);
        // `a` dies at the add; `x` is an input and cannot be overwritten.
        assert_eq!(s.in_place, Some(1));
        assert_eq!(s.post, None);
        assert_eq!(f.computed_into(2), Some(3));
        // `c` is also read by `relu`, and relu(c) is no conv: no fusion.
        assert!(f.sum(7).is_none());
    }
}
