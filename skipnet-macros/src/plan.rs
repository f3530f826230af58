//! Stage 5: the static memory plan. A pure function of the dataflow (who
//! produces and consumes what, and how big it is): it drops values no output
//! depends on, computes each remaining tensor's lifetime over the schedule and
//! assigns arena offsets so tensors that are never live at the same time share
//! memory (greedy by size, lowest offset that fits, as TFLite Micro's planner).
//! Every plan can be printed and is checked for overlaps.

pub use crate::fuse::Slot;
use std::fmt;

/// One value as the planner sees it.
pub struct PlanValue {
    /// f32 elements.
    pub len: usize,
    /// A network input: lives outside the arena.
    pub external: bool,
    /// Values read to compute this one (earlier in the list).
    pub operands: Vec<usize>,
    /// An operand whose buffer this value is computed in, in place (it dies
    /// here and has the same length): the two share one buffer.
    pub reuses: Option<usize>,
    /// A later value (a concat) whose buffer this one is written into, as
    /// `[lo, hi)` of each of its rows of `row` floats.
    pub inside: Option<Slot>,
    /// f32 elements of scratch memory the node's kernel needs during its own
    /// step only (0: none).
    pub scratch: usize,
    /// Whether its kernel can compute it over an operand (an int8 conv):
    /// its buffer then starts `gap` elements before the operand's and the
    /// two overlap, when the operand dies at this step and the arena gets
    /// shorter for it.
    pub overwrites: Option<Overwrite>,
}

/// A value computed over its operand's memory (see
/// [`PlanValue::overwrites`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Overwrite {
    pub operand: usize,
    /// Elements from the value's first to the operand's first.
    pub gap: usize,
}

/// Where one tensor lives and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Buffer {
    pub offset: usize,
    pub len: usize,
    /// Schedule step that writes it.
    pub first: usize,
    /// Last schedule step that reads it (outputs: the step past the last).
    pub last: usize,
    /// The value owning the memory: itself, the operand it was computed in
    /// place of (followed to the first owner), or the concat it is part of.
    pub owner: usize,
    /// For a part of a concat's buffer: where in each row (`offset` and
    /// `len` are then the whole concat's).
    pub slot: Option<Slot>,
}

impl Buffer {
    fn live_with(&self, o: &Buffer) -> bool {
        self.first <= o.last && o.first <= self.last
    }

    fn overlaps(&self, o: &Buffer) -> bool {
        self.offset < o.offset + o.len && o.offset < self.offset + self.len
    }
}

#[derive(Debug)]
pub struct ArenaPlan {
    /// Per value: its buffer, or `None` for inputs and values no output needs.
    pub buffers: Vec<Option<Buffer>>,
    /// Value ids of the nodes to run, in order.
    pub schedule: Vec<usize>,
    /// f32 elements of the arena.
    pub arena_len: usize,
    /// Sum of all scheduled tensors: the arena without reuse.
    pub naive_sum: usize,
    /// Largest sum of simultaneously live tensors: no plan of these tensors is smaller.
    pub live_bound: usize,
    /// Per value: its kernel's scratch region, live at its step only.
    pub scratch: Vec<Option<Buffer>>,
    /// Every offset is a multiple of this many elements.
    pub align: usize,
    /// Per value: the operand it is computed over, if the plan does so
    /// (the operand's buffer then starts `gap` after the value's).
    pub overwrites: Vec<Option<Overwrite>>,
}

/// Elements every f32 tensor's offset is a multiple of: 16 floats, 64
/// bytes, a cache line and an AVX-512 vector. With the arena itself
/// 64-byte aligned, a kernel's vector loads of a tensor whose channels are
/// a multiple of 16 never straddle two cache lines (a split load costs two:
/// MobileNetV2's depthwise layers ran 25-30% slower on unaligned tensors).
/// int8 arenas are packed (`1`): they are sized for a microcontroller.
pub const F32_ALIGN: usize = 16;

/// Plans `values` (in a valid evaluation order) so that `outputs` survive to
/// the end, every buffer at a multiple of `align` elements. Values that can
/// be computed over an operand are, where the arena gets shorter for it.
pub fn plan(values: &[PlanValue], outputs: &[usize], align: usize) -> ArenaPlan {
    let apart = plan_with(values, outputs, align, false);
    if values.iter().all(|v| v.overwrites.is_none()) {
        return apart;
    }
    let over = plan_with(values, outputs, align, true);
    match over.arena_len < apart.arena_len {
        true => over,
        false => apart,
    }
}

/// [`plan`], computing values over their operands (`overwrite`) or not.
fn plan_with(values: &[PlanValue], outputs: &[usize], align: usize, overwrite: bool) -> ArenaPlan {
    let (schedule, step_of) = schedule(values, outputs);
    let mut buffers = lifetimes(values, outputs, &schedule, &step_of);
    share_in_place(values, &schedule, &mut buffers);
    share_concat_slots(values, &schedule, &mut buffers);
    let n = values.len();
    let mut span = owner_spans(values, &schedule, &step_of, &buffers);
    // Each owner reserves whole multiples of `align`, so that offsets, sums
    // of reserved lengths, are multiples too.
    for s in span.iter_mut().flatten() {
        s.len = s.len.next_multiple_of(align.max(1));
    }
    let overwrites = match overwrite && align <= 1 {
        true => overwrites(values, &schedule, &step_of, &buffers, &span),
        false => vec![None; n],
    };
    // Owner pairs placed together: (value's owner, operand's owner, gap).
    let links: Vec<Link> = overwrites
        .iter()
        .enumerate()
        .filter_map(|(v, o)| o.map(|o| (v, buffers[o.operand].map_or(v, |b| b.owner), o.gap)))
        .collect();
    let (placed, spans) = place(&span, &schedule, n, align.max(1), &links);
    for b in buffers.iter_mut().flatten() {
        if let Some(s) = spans.get(b.owner).copied().flatten() {
            b.offset = s.offset;
        }
    }
    let scratch: Vec<Option<Buffer>> = (0..n)
        .map(|v| spans.get(n + v).copied().flatten())
        .collect();
    let arena_len = placed.iter().map(|b| b.offset + b.len).max().unwrap_or(0);
    // Every stored tensor on its own, as if nothing were reused or shared.
    let naive_sum = buffers
        .iter()
        .flatten()
        .map(|b| match b.slot {
            Some(Slot { lo, hi, row, .. }) => b.len / row.max(1) * (hi - lo),
            None => b.len,
        })
        .sum::<usize>()
        + scratch.iter().flatten().map(|b| b.len).sum::<usize>();
    // A value computed over its operand and the operand overlap at its
    // step: the overlap is counted once.
    let overlap_at = |t: usize| -> usize {
        links
            .iter()
            .filter(|&&(v, _, _)| step_of[v] == t)
            .filter_map(|&(v, o, gap)| Some((span[v]?.len, span[o]?.len, gap)))
            .map(|(lv, lo, gap)| lv.saturating_sub(gap).min(lo))
            .sum()
    };
    let live_bound = (0..=schedule.len())
        .map(|t| {
            placed
                .iter()
                .filter(|b| b.first <= t && t <= b.last)
                .map(|b| b.len)
                .sum::<usize>()
                - overlap_at(t)
        })
        .max()
        .unwrap_or(0);
    ArenaPlan {
        buffers,
        schedule,
        arena_len,
        naive_sum,
        live_bound,
        scratch,
        align: align.max(1),
        overwrites,
    }
}

/// A value's owner placed `gap` elements before its operand's owner
/// (`(value, operand's owner, gap)`).
type Link = (usize, usize, usize);

/// The values that can be computed over an operand and may here: the
/// operand (not a part of a concat) and every value sharing its memory die
/// at the value's step, the value owns its memory (not in place, not a
/// part) and neither owner takes part in another such pair.
fn overwrites(
    values: &[PlanValue],
    schedule: &[usize],
    step_of: &[usize],
    buffers: &[Option<Buffer>],
    span: &[Option<Buffer>],
) -> Vec<Option<Overwrite>> {
    let mut out = vec![None; values.len()];
    let mut linked = vec![false; span.len()];
    for &v in schedule {
        let Some(o) = values[v].overwrites else {
            continue;
        };
        let (Some(vb), Some(rb)) = (buffers[v], buffers.get(o.operand).copied().flatten()) else {
            continue;
        };
        let owner = rb.owner;
        let t = step_of[v];
        let dies = rb.last == t && span[owner].is_some_and(|s| s.last == t);
        if vb.owner != v || vb.slot.is_some() || rb.slot.is_some() || !dies {
            continue;
        }
        if owner == v || linked[v] || linked[owner] {
            continue;
        }
        linked[v] = true;
        linked[owner] = true;
        out[v] = Some(o);
    }
    out
}

/// The values to compute (what the outputs depend on, inputs excluded), in
/// order, and each value's step (`usize::MAX` when not computed).
fn schedule(values: &[PlanValue], outputs: &[usize]) -> (Vec<usize>, Vec<usize>) {
    let mut needed = vec![false; values.len()];
    for &o in outputs {
        needed[o] = true;
    }
    for i in (0..values.len()).rev() {
        if needed[i] {
            for &p in &values[i].operands {
                needed[p] = true;
            }
        }
    }
    let schedule: Vec<usize> = (0..values.len())
        .filter(|&i| needed[i] && !values[i].external)
        .collect();
    let mut step_of = vec![usize::MAX; values.len()];
    for (t, &v) in schedule.iter().enumerate() {
        step_of[v] = t;
    }
    (schedule, step_of)
}

/// Each scheduled value's own buffer, live from its step to its last
/// reader's (outputs: past the last step), not yet placed.
fn lifetimes(
    values: &[PlanValue],
    outputs: &[usize],
    schedule: &[usize],
    step_of: &[usize],
) -> Vec<Option<Buffer>> {
    let mut buffers: Vec<Option<Buffer>> = vec![None; values.len()];
    for &v in schedule {
        buffers[v] = Some(Buffer {
            offset: 0,
            len: values[v].len,
            first: step_of[v],
            last: step_of[v],
            owner: v,
            slot: None,
        });
    }
    for &v in schedule {
        for &p in &values[v].operands {
            if let Some(b) = &mut buffers[p] {
                b.last = b.last.max(step_of[v]);
            }
        }
    }
    for &o in outputs {
        if let Some(b) = &mut buffers[o] {
            b.last = schedule.len();
        }
    }
    buffers
}

/// In-place values share their operand's memory (when it dies as they are
/// born and has their length): one allocation spanning both lifetimes,
/// placed once.
fn share_in_place(values: &[PlanValue], schedule: &[usize], buffers: &mut [Option<Buffer>]) {
    for &v in schedule {
        let Some(r) = values[v].reuses else { continue };
        let (Some(rb), Some(vb)) = (buffers[r], buffers[v]) else {
            continue;
        };
        if rb.len != vb.len || rb.last != vb.first {
            continue; // not dying here: keep separate memory
        }
        let owner = rb.owner;
        if let Some(b) = &mut buffers[v] {
            b.owner = owner;
        }
    }
}

/// Parts of a concat live in its buffer from their own first write on.
fn share_concat_slots(values: &[PlanValue], schedule: &[usize], buffers: &mut [Option<Buffer>]) {
    for &v in schedule {
        let Some(sl) = values[v].inside else { continue };
        let Some(cb) = buffers[sl.concat] else {
            continue;
        };
        if cb.owner != sl.concat || sl.hi > sl.row || cb.len % sl.row.max(1) != 0 {
            continue;
        }
        if let Some(b) = &mut buffers[v] {
            b.owner = sl.concat;
            b.len = cb.len;
            b.slot = Some(sl);
        }
    }
}

/// What placement places: ids `0..n` own tensors, each spanning the
/// lifetimes of the values sharing it; id `n + v` is value `v`'s scratch, a
/// buffer that lives at `v`'s step only (so it is disjoint from `v`'s
/// operands and output, and free for anything else at every other step).
fn owner_spans(
    values: &[PlanValue],
    schedule: &[usize],
    step_of: &[usize],
    buffers: &[Option<Buffer>],
) -> Vec<Option<Buffer>> {
    let n = values.len();
    let mut span: Vec<Option<Buffer>> = vec![None; 2 * n];
    for b in buffers.iter().flatten() {
        let s = span[b.owner].get_or_insert(*b);
        s.first = s.first.min(b.first);
        s.last = s.last.max(b.last);
    }
    for &v in schedule {
        if values[v].scratch > 0 {
            span[n + v] = Some(Buffer {
                offset: 0,
                len: values[v].scratch,
                first: step_of[v],
                last: step_of[v],
                owner: n + v,
                slot: None,
            });
        }
    }
    span
}

/// A placement: the placed owners, and every id's span with its offset.
type Placed = (Vec<Buffer>, Vec<Option<Buffer>>);

/// Greedy placement of the `span` owners under several orders (biggest
/// first as TFLite Micro, then by first use, then by longest lifetime); the
/// smallest arena wins. Returns the placed buffers and every id's span with
/// its offset.
fn place(
    span: &[Option<Buffer>],
    schedule: &[usize],
    n: usize,
    align: usize,
    links: &[Link],
) -> Placed {
    let key = |v: usize| {
        span[v].unwrap_or(Buffer {
            offset: 0,
            len: 0,
            first: 0,
            last: 0,
            owner: v,
            slot: None,
        })
    };
    // Only owners are placed; the values sharing their memory follow.
    let owners: Vec<usize> = schedule
        .iter()
        .flat_map(|&v| [v, n + v])
        .filter(|&v| span[v].is_some())
        .collect();
    let mut by_size = owners.clone();
    by_size.sort_by_key(|&v| (std::cmp::Reverse(key(v).len), key(v).first));
    let mut by_span = owners.clone();
    by_span.sort_by_key(|&v| {
        (
            std::cmp::Reverse(key(v).last - key(v).first),
            std::cmp::Reverse(key(v).len),
        )
    });
    // The smallest arena so far: its length, buffers and spans.
    let mut best: Option<(usize, Placed)> = None;
    let keep = |best: &mut Option<(usize, Placed)>, p: Placed| {
        let len = p.0.iter().map(|b| b.offset + b.len).max().unwrap_or(0);
        if best.as_ref().is_none_or(|(l, _)| len < *l) {
            *best = Some((len, p));
        }
    };
    let orders = [by_size, owners, by_span];
    for order in &orders {
        keep(&mut best, place_in_order(span, order, links));
    }
    if !links.is_empty() {
        // The search places owners one by one: not pairs.
        return best.map(|(_, p)| p).unwrap_or_default();
    }
    // Above the bound (concat chains whose tensors grow, DenseNet's): a
    // search under the bound, then under caps up to 2% above it.
    let bound = live_set(&owners_spans(span, &orders[1]));
    let mut budget = SEARCH_BUDGET;
    for step in 0..=2 {
        let cap = (bound + bound * step / 100) / align * align;
        if budget == 0 || best.as_ref().is_some_and(|(l, _)| *l <= cap) {
            break;
        }
        if let Some(p) = place_searching(span, &orders[1], cap, &mut budget) {
            keep(&mut best, p);
        }
    }
    best.map(|(_, p)| p).unwrap_or_default()
}

fn owners_spans(span: &[Option<Buffer>], order: &[usize]) -> Vec<Buffer> {
    order.iter().filter_map(|&v| span[v]).collect()
}

/// The largest total length of `bufs` live at one step.
fn live_set(bufs: &[Buffer]) -> usize {
    let end = bufs.iter().map(|b| b.last).max().unwrap_or(0);
    (0..=end)
        .map(|t| {
            bufs.iter()
                .filter(|b| b.first <= t && t <= b.last)
                .map(|b| b.len)
                .sum::<usize>()
        })
        .max()
        .unwrap_or(0)
}

/// Candidate placements one plan's search expands, under all its caps,
/// before giving up: it bounds the macro's time on a network whose bound no
/// placement reaches (a few ms for 500 tensors; concat chains that reach it
/// take about one expansion per tensor).
const SEARCH_BUDGET: usize = 10_000;

/// Places the spans in `order` under `cap` by depth-first search: each
/// buffer at an end of a gap between the buffers live with it, the end next
/// to the neighbour that lives longer tried first (the arena's ends live
/// forever), so that tensors that grow along a concat chain alternate
/// between the ends of the arena; a buffer that fits nowhere sends the
/// search back to the one before. `None` when no placement fits within
/// `budget` expansions (each expansion is taken off `budget`).
fn place_searching(
    span: &[Option<Buffer>],
    order: &[usize],
    cap: usize,
    budget: &mut usize,
) -> Option<Placed> {
    let order: Vec<usize> = order
        .iter()
        .copied()
        .filter(|&v| span[v].is_some())
        .collect();
    let mut placed: Vec<Buffer> = Vec::with_capacity(order.len());
    // Per placed depth: the offsets still to try.
    let mut stack: Vec<Vec<usize>> = Vec::with_capacity(order.len());
    while placed.len() < order.len() {
        let i = placed.len();
        let b = span[order[i]]?;
        if stack.len() == i {
            if *budget == 0 {
                return None;
            }
            *budget -= 1;
            stack.push(gap_ends(&b, &placed, cap));
        }
        match stack[i].pop() {
            Some(offset) => placed.push(Buffer { offset, ..b }),
            None => {
                stack.pop();
                placed.pop()?;
            }
        }
    }
    let mut bufs = span.to_vec();
    for (&v, b) in order.iter().zip(&placed) {
        bufs[v] = Some(*b);
    }
    Some((placed, bufs))
}

/// The offsets where `b` fits below `cap` at an end of a gap between the
/// `placed` buffers live with it, the best last (popped first): next to a
/// neighbour that lives longer, then in a smaller gap, then lower.
fn gap_ends(b: &Buffer, placed: &[Buffer], cap: usize) -> Vec<usize> {
    let mut conflicts: Vec<&Buffer> = placed.iter().filter(|p| p.live_with(b)).collect();
    conflicts.sort_by_key(|p| p.offset);
    // (start, end, last step of the buffer below, of the buffer above)
    let mut gaps: Vec<(usize, usize, usize, usize)> = Vec::new();
    let (mut end, mut below) = (0usize, usize::MAX);
    for c in &conflicts {
        if c.offset > end {
            gaps.push((end, c.offset, below, c.last));
        }
        if c.offset + c.len > end {
            end = c.offset + c.len;
            below = c.last;
        }
    }
    if end < cap {
        gaps.push((end, cap, below, usize::MAX));
    }
    let mut ends: Vec<(std::cmp::Reverse<usize>, usize, usize)> = Vec::new();
    for (start, stop, below, above) in gaps {
        if stop - start >= b.len {
            ends.push((std::cmp::Reverse(below), stop - start, start));
            ends.push((std::cmp::Reverse(above), stop - start, stop - b.len));
        }
    }
    ends.sort();
    let mut offsets: Vec<usize> = Vec::with_capacity(ends.len());
    for e in ends {
        if !offsets.contains(&e.2) {
            offsets.push(e.2);
        }
    }
    offsets.reverse();
    offsets
}

/// Places the spans in `order`, each at the lowest offset clear of every
/// placed buffer live at the same time; the two owners of a link together,
/// when the first of them comes.
fn place_in_order(span: &[Option<Buffer>], order: &[usize], links: &[Link]) -> Placed {
    let mut bufs = span.to_vec();
    let mut placed: Vec<Buffer> = Vec::new();
    let mut done = vec![false; span.len()];
    for &v in order {
        let Some(b) = bufs[v] else { continue };
        if done[v] {
            continue;
        }
        // The pieces to place at one offset: (owner, span, distance).
        let link = links.iter().find(|&&(a, o, _)| a == v || o == v);
        let pieces: Vec<(usize, Buffer, usize)> = match link {
            Some(&(a, o, gap)) => [(a, 0), (o, gap)]
                .into_iter()
                .filter_map(|(id, at)| Some((id, bufs[id]?, at)))
                .collect(),
            None => vec![(v, b, 0)],
        };
        let offset = lowest_fit(&pieces, &placed);
        for (id, mut b, at) in pieces {
            b.offset = offset + at;
            bufs[id] = Some(b);
            placed.push(b);
            done[id] = true;
        }
    }
    (placed, bufs)
}

/// The lowest offset at which every piece (`span` at `offset + distance`)
/// is clear of the `placed` buffers live with it.
fn lowest_fit(pieces: &[(usize, Buffer, usize)], placed: &[Buffer]) -> usize {
    if let [(_, b, 0)] = pieces {
        return lowest_gap(b, placed);
    }
    let clear = |offset: usize| {
        pieces.iter().all(|&(_, b, at)| {
            let b = Buffer {
                offset: offset + at,
                ..b
            };
            !placed.iter().any(|p| p.live_with(&b) && p.overlaps(&b))
        })
    };
    // The lowest fit starts at 0 or where a piece ends up against a buffer.
    let mut candidates: Vec<usize> = vec![0];
    for &(_, b, at) in pieces {
        let ends = placed.iter().filter(|p| p.live_with(&b));
        candidates.extend(ends.filter_map(|p| (p.offset + p.len).checked_sub(at)));
    }
    candidates.sort_unstable();
    candidates.into_iter().find(|&o| clear(o)).unwrap_or(0)
}

/// [`lowest_fit`] for one buffer: the first gap between the buffers live
/// with it, in one pass over them sorted by offset.
fn lowest_gap(b: &Buffer, placed: &[Buffer]) -> usize {
    let mut conflicts: Vec<&Buffer> = placed.iter().filter(|p| p.live_with(b)).collect();
    conflicts.sort_by_key(|p| p.offset);
    let mut offset = 0;
    for c in conflicts {
        if offset + b.len <= c.offset {
            break;
        }
        offset = offset.max(c.offset + c.len);
    }
    offset
}

impl ArenaPlan {
    /// Every pair of buffers live at the same step must be disjoint, and every
    /// buffer inside the arena. Returns the first violation.
    pub fn check(&self) -> Result<(), String> {
        // Scratch regions take part as ids `n + v`, owning themselves.
        let bufs: Vec<(usize, &Buffer)> = self
            .buffers
            .iter()
            .chain(&self.scratch)
            .enumerate()
            .filter_map(|(i, b)| b.as_ref().map(|b| (i, b)))
            .collect();
        for (i, (va, a)) in bufs.iter().enumerate() {
            if a.offset + a.len > self.arena_len {
                return Err(format!("value {va} ends past the arena"));
            }
            if a.offset % self.align != 0 {
                return Err(format!(
                    "value {va} at offset {} is not a multiple of {}",
                    a.offset, self.align
                ));
            }
            if let Some(Slot { lo, hi, row, .. }) = a.slot {
                // A part of a concat: inside its row, the concat alive no later.
                match self.buffers[a.owner] {
                    Some(o)
                        if o.offset == a.offset
                            && o.len == a.len
                            && o.slot.is_none()
                            && lo <= hi
                            && hi <= row
                            && o.len % row.max(1) == 0
                            && a.last <= o.first => {}
                    _ => {
                        return Err(format!(
                            "value {va} is not a valid part of value {}",
                            a.owner
                        ))
                    }
                }
            } else if a.owner != *va {
                // Sharing is only sound when the owner dies as this value is born.
                match self.buffers[a.owner] {
                    Some(o) if o.offset == a.offset && o.len == a.len && o.last <= a.first => {}
                    _ => {
                        return Err(format!(
                            "value {va} shares value {}'s memory while it is live",
                            a.owner
                        ))
                    }
                }
            }
            for (vb, b) in &bufs[i + 1..] {
                if a.owner == b.owner {
                    if let (Some(sa), Some(sb)) = (a.slot, b.slot) {
                        // Two parts of one concat: disjoint columns.
                        if sa.lo < sb.hi && sb.lo < sa.hi {
                            return Err(format!(
                                "values {va} and {vb} are overlapping parts of one concat"
                            ));
                        }
                        continue;
                    }
                    if a.slot.is_some() || b.slot.is_some() {
                        continue; // a part and its concat (checked above)
                    }
                    // One memory, two tensors: one must die as the other is born.
                    if a.first < b.last && b.first < a.last {
                        return Err(format!(
                            "values {va} and {vb} share memory while both are live: {a:?} {b:?}"
                        ));
                    }
                    continue;
                }
                let over = |x: usize, y: usize, bx: &Buffer, by: &Buffer| {
                    self.overwrites.get(x).copied().flatten().is_some_and(|o| {
                        o.operand == y && by.offset == bx.offset + o.gap && by.last == bx.first
                    })
                };
                if over(*va, *vb, a, b) || over(*vb, *va, b, a) {
                    continue; // a value computed over its operand
                }
                if a.live_with(b) && a.overlaps(b) {
                    return Err(format!(
                        "values {va} and {vb} are live together and overlap: {a:?} {b:?}"
                    ));
                }
            }
        }
        Ok(())
    }
}

impl fmt::Display for ArenaPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:>6} {:>10} {:>10} {:>9}",
            "value", "offset", "len", "steps"
        )?;
        for &v in &self.schedule {
            if let Some(b) = &self.buffers[v] {
                write!(
                    f,
                    "{v:>6} {:>10} {:>10} {:>4}..{:<4}",
                    b.offset, b.len, b.first, b.last
                )?;
                if let Some(sc) = self.scratch.get(v).copied().flatten() {
                    write!(f, " scratch {} at {}", sc.len, sc.offset)?;
                }
                if let Some(Slot { lo, hi, row, .. }) = b.slot {
                    write!(f, " part [{lo}, {hi}) of {row} in {}", b.owner)?;
                } else if b.owner != v {
                    write!(f, " in place of {}", b.owner)?;
                }
                if let Some(o) = self.overwrites.get(v).copied().flatten() {
                    write!(f, " over {} ({} before it)", o.operand, o.gap)?;
                }
                writeln!(f)?;
            }
        }
        write!(
            f,
            "arena {} f32, naive sum {}, live-set bound {}",
            self.arena_len, self.naive_sum, self.live_bound
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(len: usize, operands: &[usize]) -> PlanValue {
        PlanValue {
            len,
            external: false,
            operands: operands.to_vec(),
            reuses: None,
            inside: None,
            scratch: 0,
            overwrites: None,
        }
    }

    fn input(len: usize) -> PlanValue {
        PlanValue {
            len,
            external: true,
            operands: vec![],
            reuses: None,
            inside: None,
            scratch: 0,
            overwrites: None,
        }
    }

    #[test]
    fn chain_ping_pongs_between_two_buffers() {
        let vals = [
            input(10),
            v(100, &[0]),
            v(100, &[1]),
            v(100, &[2]),
            v(100, &[3]),
        ];
        let p = plan(&vals, &[4], 1);
        p.check().unwrap();
        assert_eq!(p.arena_len, 200);
        assert_eq!(p.naive_sum, 400);
        assert_eq!(p.live_bound, 200);
        assert!(p.buffers[0].is_none());
    }

    #[test]
    fn skip_connection_stays_live_across_the_branch() {
        // 1 = f(x); 2 = g(1); 3 = h(2); 4 = add(1, 3): 1 must survive until step 3.
        let vals = [
            input(8),
            v(64, &[0]),
            v(64, &[1]),
            v(64, &[2]),
            v(64, &[1, 3]),
        ];
        let p = plan(&vals, &[4], 1);
        p.check().unwrap();
        let b1 = p.buffers[1].unwrap();
        assert_eq!((b1.first, b1.last), (0, 3));
        assert_eq!(p.arena_len, 192);
    }

    #[test]
    fn dead_branch_is_not_scheduled_and_outputs_live_to_the_end() {
        let vals = [input(4), v(50, &[0]), v(70, &[0]), v(20, &[1])];
        let p = plan(&vals, &[3, 1], 1);
        p.check().unwrap();
        assert_eq!(p.schedule, [1, 3]);
        assert!(p.buffers[2].is_none());
        assert_eq!(p.buffers[1].unwrap().last, 2);
        assert_eq!(p.arena_len, 70);
    }

    #[test]
    fn tries_several_orders() {
        // The ApesNet shape (sizes / 1024): biggest-first stacks the 16-wide pool
        // output above three placed buffers (arena 144); placing in first-use
        // order reaches the live-set bound of 128.
        let vals = [
            input(64),
            v(64, &[0]),
            v(64, &[0, 1]),
            v(16, &[2]),
            v(32, &[3]),
            v(32, &[3, 4]),
            v(4, &[5]),
        ];
        let p = plan(&vals, &[6], 1);
        p.check().unwrap();
        assert_eq!(p.live_bound, 128);
        assert_eq!(p.arena_len, 128);
    }

    fn in_place(len: usize, operands: &[usize], reuses: usize) -> PlanValue {
        PlanValue {
            reuses: Some(reuses),
            ..v(len, operands)
        }
    }

    #[test]
    fn in_place_value_shares_its_dying_operands_memory() {
        // 1 = f(x); 2 = g(1); 3 = add(2, 1) in place of 1 (dies there); 4 = h(3).
        let vals = [
            input(8),
            v(64, &[0]),
            v(64, &[1]),
            in_place(64, &[2, 1], 1),
            v(64, &[3]),
        ];
        let p = plan(&vals, &[4], 1);
        p.check().unwrap();
        let (b1, b3) = (p.buffers[1].unwrap(), p.buffers[3].unwrap());
        assert_eq!(b3.owner, 1);
        assert_eq!(b3.offset, b1.offset);
        assert_eq!(p.arena_len, 128, "{p}");
        assert_eq!(p.live_bound, 128);
        assert_eq!(
            p.naive_sum, 256,
            "every tensor counted once without sharing"
        );
        assert!(p.to_string().contains("in place of 1"), "{p}");
    }

    #[test]
    fn in_place_is_refused_when_the_operand_lives_on() {
        // 1 is read again at step 3, so 2 cannot take its memory at step 1.
        let vals = [input(8), v(64, &[0]), in_place(64, &[1], 1), v(64, &[1, 2])];
        let p = plan(&vals, &[3], 1);
        p.check().unwrap();
        assert_eq!(p.buffers[2].unwrap().owner, 2);
        assert_ne!(p.buffers[2].unwrap().offset, p.buffers[1].unwrap().offset);
    }

    #[test]
    fn chains_of_in_place_values_share_one_buffer() {
        let vals = [
            input(8),
            v(32, &[0]),
            in_place(32, &[1], 1),
            in_place(32, &[2], 2),
            v(16, &[3]),
        ];
        let p = plan(&vals, &[4], 1);
        p.check().unwrap();
        assert_eq!(p.buffers[3].unwrap().owner, 1);
        assert_eq!(p.arena_len, 48);
        // The checker rejects two sharers that are live together.
        let mut bad = p;
        if let Some(b) = &mut bad.buffers[2] {
            b.last = 3;
        }
        if let Some(b) = &mut bad.buffers[3] {
            b.first = 1;
        }
        assert!(bad.check().is_err());
    }

    #[test]
    fn concat_parts_live_in_its_buffer_from_their_first_write() {
        // 1 = f(x) (part [0, 2) of 3's rows), 2 = g(x) (part [2, 6)), 3 = concat.
        let part = |len, lo, hi| PlanValue {
            inside: Some(Slot {
                concat: 3,
                lo,
                hi,
                row: 6,
            }),
            ..v(len, &[0])
        };
        let vals = [
            input(8),
            part(20, 0, 2),
            part(40, 2, 6),
            v(60, &[1, 2]),
            v(5, &[3]),
        ];
        let p = plan(&vals, &[4], 1);
        p.check().unwrap();
        let (b1, b3) = (p.buffers[1].unwrap(), p.buffers[3].unwrap());
        assert_eq!(
            (b1.owner, b1.offset, b1.slot),
            (
                3,
                b3.offset,
                Some(Slot {
                    concat: 3,
                    lo: 0,
                    hi: 2,
                    row: 6
                })
            )
        );
        // The concat's memory is taken from step 0 on: no copy, no second buffer.
        assert_eq!(p.arena_len, 65);
        assert_eq!(p.live_bound, 65);
        assert_eq!(p.naive_sum, 125);
        assert!(p.to_string().contains("part [2, 6) of 6 in 3"), "{p}");
        // Overlapping parts are caught.
        let mut bad = p;
        if let Some(b) = &mut bad.buffers[2] {
            b.slot = Some(Slot {
                concat: 3,
                lo: 1,
                hi: 5,
                row: 6,
            });
        }
        assert!(bad.check().is_err());
    }

    fn over(len: usize, operand: usize, gap: usize) -> PlanValue {
        PlanValue {
            overwrites: Some(Overwrite { operand, gap }),
            ..v(len, &[operand])
        }
    }

    #[test]
    fn a_value_is_computed_over_its_dying_operand_when_the_arena_shrinks() {
        // 1 = f(x) (40), 2 = g(1) (80) over 1 from 50 before it, 3 = h(2).
        // Apart, 1 and 2 take 120; overlapping, 2's start to 1's end: 90.
        let vals = [input(8), v(40, &[0]), over(80, 1, 50), v(10, &[2])];
        let p = plan(&vals, &[3], 1);
        p.check().unwrap();
        assert_eq!(
            p.overwrites[2],
            Some(Overwrite {
                operand: 1,
                gap: 50
            })
        );
        let (b1, b2) = (p.buffers[1].unwrap(), p.buffers[2].unwrap());
        assert_eq!(b1.offset, b2.offset + 50);
        assert_eq!(p.arena_len, 90);
        assert_eq!(p.live_bound, 90);
        // A plan that moves the operand is caught.
        let mut bad = p;
        bad.buffers[1] = Some(Buffer {
            offset: b1.offset - 1,
            ..b1
        });
        assert!(bad.check().is_err());
    }

    #[test]
    fn a_value_is_not_computed_over_an_operand_that_lives_on() {
        // 1 is read again by 3: 2 must not overwrite it.
        let vals = [input(8), v(40, &[0]), over(80, 1, 50), v(10, &[2, 1])];
        let p = plan(&vals, &[3], 1);
        p.check().unwrap();
        assert_eq!(p.overwrites[2], None);
        assert_eq!(p.arena_len, 130);
    }

    #[test]
    fn overlapping_is_kept_only_where_it_shortens_the_arena() {
        // The gap puts 2's start 40 before 1's end: no shorter than apart.
        let vals = [input(8), v(40, &[0]), over(30, 1, 40), v(10, &[2])];
        let p = plan(&vals, &[3], 1);
        p.check().unwrap();
        assert_eq!(p.overwrites[2], None);
        assert_eq!(p.arena_len, 70);
    }

    #[test]
    fn scratch_lives_only_at_its_step() {
        // 2 needs 50 floats of scratch while it reads 1 and writes itself; the
        // scratch may reuse 1's memory later but not now.
        let mut two = v(40, &[1]);
        two.scratch = 50;
        let vals = [input(8), v(40, &[0]), two, v(40, &[2]), v(40, &[3])];
        let p = plan(&vals, &[4], 1);
        p.check().unwrap();
        let sc = p.scratch[2].unwrap();
        assert_eq!((sc.len, sc.first, sc.last), (50, 1, 1));
        for o in [1, 2] {
            let b = p.buffers[o].unwrap();
            assert!(sc.offset + sc.len <= b.offset || b.offset + b.len <= sc.offset);
        }
        assert_eq!(p.arena_len, 130);
        assert_eq!(p.live_bound, 130);
        assert!(p.to_string().contains("scratch 50"), "{p}");
        // An overlapping scratch is caught.
        let mut bad = p;
        if let Some(b) = &mut bad.scratch[2] {
            b.offset = bad.buffers[1].unwrap().offset;
        }
        assert!(bad.check().is_err());
    }

    /// DenseNet's dense block: each layer normalizes and activates the
    /// concat so far (`bn`, `act`, as long as it), a bottleneck conv reads
    /// that, and the next concat (one growth longer) is written while the
    /// previous one is copied into it. The greedy orders leave the growing
    /// concats in the middle of the arena (7,424 here); the search alternates
    /// them between its ends and reaches the bound.
    fn dense_block(layers: usize) -> (Vec<PlanValue>, usize) {
        let mut vals = vec![input(64), v(1024, &[0])];
        let mut x = 1;
        for k in 0..layers {
            let len = 1024 + 256 * k;
            vals.push(v(len, &[x]));
            vals.push(v(len, &[vals.len() - 1]));
            vals.push(v(512, &[vals.len() - 1]));
            vals.push(v(len + 256, &[x, vals.len() - 1]));
            x = vals.len() - 1;
        }
        (vals, x)
    }

    #[test]
    fn growing_concat_chain_reaches_its_bound() {
        let (vals, out) = dense_block(6);
        let p = plan(&vals, &[out], 1);
        p.check().unwrap();
        assert_eq!(p.live_bound, 6912);
        assert_eq!(p.arena_len, p.live_bound, "{p}");
    }

    /// Random DAGs: every plan is valid and no smaller than its bound,
    /// whether the greedy orders reach the bound, the search does, or the
    /// search gives up.
    #[test]
    fn random_graphs_plan_validly() {
        let mut rng = skipnet_rng(0x5eed);
        let mut overlapping = 0;
        for case in 0..40 {
            let n = 20 + (rng() % 300) as usize;
            let mut vals = vec![input(8)];
            for i in 1..n {
                let a = (rng() % i as u64) as usize;
                let b = (rng() % i as u64) as usize;
                let ops: Vec<usize> = if rng().is_multiple_of(3) {
                    vec![a, b]
                } else {
                    vec![i - 1]
                };
                let mut val = v(1 + (rng() % 1000) as usize, &ops);
                // Some one-operand values can be computed over it.
                if ops.len() == 1 && ops[0] > 0 && rng().is_multiple_of(4) {
                    let gap = (rng() % 1200) as usize;
                    val.overwrites = Some(Overwrite {
                        operand: ops[0],
                        gap,
                    });
                }
                vals.push(val);
            }
            // Half the cases aligned as f32 networks are: `check` then also
            // rejects an offset that is not a multiple of the alignment.
            let align = if case % 2 == 0 { 1 } else { F32_ALIGN };
            let p = plan(&vals, &[n - 1], align);
            p.check().unwrap_or_else(|e| panic!("case {case}: {e}"));
            assert!(p.arena_len >= p.live_bound, "case {case}");
            // The plan with every overlap it can take (`plan` keeps it only
            // where the arena is shorter for it) is valid too.
            let q = plan_with(&vals, &[n - 1], align, true);
            q.check()
                .unwrap_or_else(|e| panic!("case {case}, overlapping: {e}"));
            assert!(q.arena_len >= q.live_bound, "case {case}, overlapping");
            overlapping += q.overwrites.iter().flatten().count();
            for (w, o) in q.overwrites.iter().enumerate() {
                if let Some(o) = o {
                    let (bw, bo) = (q.buffers[w].unwrap(), q.buffers[o.operand].unwrap());
                    assert_eq!(bo.offset, bw.offset + o.gap, "case {case}");
                }
            }
            for b in p.buffers.iter().chain(&p.scratch).flatten() {
                assert_eq!(b.offset % align, 0, "case {case}: {b:?}");
            }
        }
        assert!(
            overlapping > 20,
            "values computed over operands: {overlapping}"
        );
    }

    /// SplitMix64 (the macro crate has no RNG dependency).
    fn skipnet_rng(mut state: u64) -> impl FnMut() -> u64 {
        move || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
    }

    #[test]
    fn repeated_operand_and_overlap_checker() {
        let vals = [input(4), v(30, &[0]), v(60, &[1, 1, 1])];
        let mut p = plan(&vals, &[2], 1);
        p.check().unwrap();
        assert_eq!(p.arena_len, 90);
        // Corrupt the plan: the checker must catch it.
        if let Some(b) = &mut p.buffers[2] {
            b.offset = 10;
        }
        assert!(p.check().is_err());
        assert!(p.to_string().contains("arena 90 f32"));
    }
}
