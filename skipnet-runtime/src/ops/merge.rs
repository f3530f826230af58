//! Element-wise merges, Keras `Subtract`, `Multiply`, `Average`, `Maximum`,
//! `Minimum`, and `Add` where it broadcasts (an `add` of same-shaped
//! tensors has its own kernel and fusions, `ops::add`).

/// Which merge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Merge {
    /// Sum of all operands (`add` of shapes that broadcast).
    Add,
    /// `a - b` (exactly two operands).
    Subtract,
    /// Product of all operands.
    Multiply,
    /// Mean of all operands.
    Average,
    /// Element-wise maximum (NaN propagates, as in TF).
    Maximum,
    /// Element-wise minimum (NaN propagates).
    Minimum,
}

impl Merge {
    /// Folds one more operand into `row`: `row[j] = op(row[j], src[j * step])`
    /// with `step` 1 (an operand as long as the row) or 0 (one value
    /// repeated). `Average` sums; the caller divides. The op is matched
    /// once per row, so each arm is a loop LLVM vectorizes (a function
    /// pointer per element made squeeze-and-excite's products 6 ns an
    /// element).
    fn fold_into(self, row: &mut [f32], src: &[f32], step: usize) {
        match self {
            Merge::Add | Merge::Average => fold(row, src, step, |a, b| a + b),
            Merge::Subtract => fold(row, src, step, |a, b| a - b),
            Merge::Multiply => fold(row, src, step, |a, b| a * b),
            Merge::Maximum => fold(
                row,
                src,
                step,
                |a, b| {
                    if a > b || a.is_nan() {
                        a
                    } else {
                        b
                    }
                },
            ),
            Merge::Minimum => fold(
                row,
                src,
                step,
                |a, b| {
                    if a < b || a.is_nan() {
                        a
                    } else {
                        b
                    }
                },
            ),
        }
    }
}

/// [`Merge::fold_into`] for one op.
#[inline(always)]
fn fold(row: &mut [f32], src: &[f32], step: usize, f: impl Fn(f32, f32) -> f32) {
    if step == 0 {
        let b = src[0];
        row.iter_mut().for_each(|a| *a = f(*a, b));
    } else {
        let src = &src[..row.len()];
        row.iter_mut().zip(src).for_each(|(a, &b)| *a = f(*a, b));
    }
}

/// `row[j] = src[j * step]` (`step` 0 or 1, as [`Merge::fold_into`]).
fn load_row(row: &mut [f32], src: &[f32], step: usize) {
    if step == 0 {
        row.fill(src[0]);
    } else {
        row.copy_from_slice(&src[..row.len()]);
    }
}

/// `out[i] = op(operands[0][i], operands[1][i], ...)`.
pub fn merge(op: Merge, operands: &[&[f32]], out: &mut [f32]) {
    let Some((first, rest)) = operands.split_first() else {
        return;
    };
    assert_eq!(first.len(), out.len());
    for r in rest {
        assert_eq!(r.len(), out.len());
    }
    out.copy_from_slice(first);
    for r in rest {
        op.fold_into(out, r, 1);
    }
    if op == Merge::Average {
        let inv = 1.0 / operands.len() as f32;
        out.iter_mut().for_each(|o| *o *= inv);
    }
}

/// Largest rank [`merge_broadcast`] takes.
pub const MAX_RANK: usize = 6;

/// [`merge`] with Keras's (NumPy's) broadcasting: operand `k` has shape
/// `operands[k].1`, aligned to `out_shape` at the last axis; each of its
/// axes equals the output's or is 1 (repeated), and missing leading axes
/// count as 1. Squeeze-and-excite's `multiply([H, W, C], [1, 1, C])`.
///
/// # Panics
/// If a shape does not broadcast to `out_shape`, a length does not match
/// its shape, or a rank exceeds [`MAX_RANK`] (the macro checked all three).
pub fn merge_broadcast(
    op: Merge,
    operands: &[(&[f32], &[usize])],
    out_shape: &[usize],
    out: &mut [f32],
) {
    let rank = out_shape.len();
    assert!(
        rank <= MAX_RANK,
        "merge_broadcast: rank {rank} > {MAX_RANK}"
    );
    assert_eq!(
        out.len(),
        out_shape.iter().product::<usize>(),
        "merge_broadcast: output length"
    );
    // Per operand, the step along each output axis (0 where it repeats).
    let strides: operand_strides::Strides = operands
        .iter()
        .map(|(v, shape)| {
            assert!(shape.len() <= rank, "merge_broadcast: operand rank");
            assert_eq!(
                v.len(),
                shape.iter().product::<usize>(),
                "merge_broadcast: operand length"
            );
            let mut st = [0usize; MAX_RANK];
            let mut step = 1;
            for (k, &d) in shape.iter().enumerate().rev() {
                let axis = rank - shape.len() + k;
                assert!(
                    d == out_shape[axis] || d == 1,
                    "merge_broadcast: {shape:?} does not broadcast to {out_shape:?}"
                );
                st[axis] = if d == 1 { 0 } else { step };
                step *= d;
            }
            st
        })
        .collect();
    // Row by row along the last axis, where each operand either runs
    // with the output (stride 1) or repeats one value (stride 0). Rank 0
    // (one element) is one row of one, every stride 0.
    let row_len = out_shape.last().copied().unwrap_or(1);
    if out.is_empty() {
        return;
    }
    let last = rank.saturating_sub(1);
    let inv = 1.0 / operands.len() as f32;
    let mut idx = [0usize; MAX_RANK];
    for row in out.chunks_exact_mut(row_len) {
        let base = |st: &[usize; MAX_RANK]| (0..last).map(|a| idx[a] * st[a]).sum::<usize>();
        load_row(row, &operands[0].0[base(&strides[0])..], strides[0][last]);
        for ((v, _), st) in operands.iter().zip(strides.iter()).skip(1) {
            op.fold_into(row, &v[base(st)..], st[last]);
        }
        if op == Merge::Average {
            row.iter_mut().for_each(|o| *o *= inv);
        }
        // The next row's coordinates (the axis before the last fastest).
        for a in (0..last).rev() {
            idx[a] += 1;
            if idx[a] < out_shape[a] {
                break;
            }
            idx[a] = 0;
        }
    }
}

/// A fixed-capacity list of per-operand strides (no allocation).
mod operand_strides {
    use super::MAX_RANK;

    /// Up to [`MAX_OPERANDS`] operands' strides.
    pub struct Strides {
        items: [[usize; MAX_RANK]; MAX_OPERANDS],
        len: usize,
    }

    /// Operands a broadcasting merge takes at most.
    pub const MAX_OPERANDS: usize = 16;

    impl FromIterator<[usize; MAX_RANK]> for Strides {
        fn from_iter<I: IntoIterator<Item = [usize; MAX_RANK]>>(it: I) -> Self {
            let mut s = Strides {
                items: [[0; MAX_RANK]; MAX_OPERANDS],
                len: 0,
            };
            for st in it {
                assert!(
                    s.len < MAX_OPERANDS,
                    "merge_broadcast: more than {MAX_OPERANDS} operands"
                );
                s.items[s.len] = st;
                s.len += 1;
            }
            s
        }
    }

    impl core::ops::Deref for Strides {
        type Target = [[usize; MAX_RANK]];
        fn deref(&self) -> &Self::Target {
            &self.items[..self.len]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{vec, vec::Vec};

    #[test]
    fn broadcasting_matches_explicit_repeats() {
        // [2, 3, 4] * [1, 1, 4] - [3, 1]: every element by hand.
        let a: [f32; 24] = core::array::from_fn(|i| i as f32 * 0.5 - 3.0);
        let s = [1.0, -2.0, 0.5, f32::NAN];
        let t = [10.0, 20.0, 30.0];
        let mut prod = [0.0; 24];
        merge_broadcast(
            Merge::Multiply,
            &[(&a, &[2, 3, 4]), (&s, &[1, 1, 4])],
            &[2, 3, 4],
            &mut prod,
        );
        let mut diff = [0.0; 24];
        merge_broadcast(
            Merge::Subtract,
            &[(&a, &[2, 3, 4]), (&t, &[3, 1])],
            &[2, 3, 4],
            &mut diff,
        );
        for i in 0..24 {
            let (y, c) = ((i / 4) % 3, i % 4);
            let want = a[i] * s[c];
            assert!(
                prod[i] == want || (want.is_nan() && prod[i].is_nan()),
                "{i}"
            );
            assert_eq!(diff[i], a[i] - t[y], "{i}");
        }
        // Both operands repeated: [2, 1] and [1, 3] give [2, 3].
        let mut avg = [0.0; 6];
        merge_broadcast(
            Merge::Average,
            &[(&[1.0, 2.0], &[2, 1]), (&[10.0, 20.0, 30.0], &[1, 3])],
            &[2, 3],
            &mut avg,
        );
        assert_eq!(avg, [5.5, 10.5, 15.5, 6.0, 11.0, 16.0]);
        let mut sum = [0.0; 6];
        merge_broadcast(
            Merge::Add,
            &[(&[1.0, 2.0], &[2, 1]), (&[10.0, 20.0, 30.0], &[1, 3])],
            &[2, 3],
            &mut sum,
        );
        assert_eq!(sum, [11.0, 21.0, 31.0, 12.0, 22.0, 32.0]);
    }

    /// Random shapes (rank 0 to 4, 1 to 3 operands, every axis the
    /// output's or 1, leading axes dropped) against a plain element-wise
    /// reference: the same floats, bit for bit.
    #[test]
    fn random_broadcasts_match_an_elementwise_reference() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let ops = [
            Merge::Add,
            Merge::Subtract,
            Merge::Multiply,
            Merge::Average,
            Merge::Maximum,
            Merge::Minimum,
        ];
        for case in 0..2000 {
            let rank = next(5);
            let out_shape: Vec<usize> = (0..rank).map(|_| 1 + next(5)).collect();
            let n = out_shape.iter().product::<usize>();
            let op = ops[case % ops.len()];
            let count = if op == Merge::Subtract {
                2
            } else {
                1 + next(3)
            };
            let shapes: Vec<Vec<usize>> = (0..count)
                .map(|_| {
                    let drop = next(rank + 1);
                    out_shape[drop..]
                        .iter()
                        .map(|&d| if next(2) == 0 { 1 } else { d })
                        .collect()
                })
                .collect();
            let values: Vec<Vec<f32>> = shapes
                .iter()
                .map(|sh| {
                    let len = sh.iter().product::<usize>();
                    (0..len)
                        .map(|_| match next(40) {
                            0 => f32::NAN,
                            v => v as f32 * 0.37 - 7.0,
                        })
                        .collect()
                })
                .collect();
            let operands: Vec<(&[f32], &[usize])> = values
                .iter()
                .zip(&shapes)
                .map(|(v, sh)| (v.as_slice(), sh.as_slice()))
                .collect();
            let mut got = vec![0.0; n];
            merge_broadcast(op, &operands, &out_shape, &mut got);
            for (i, &g) in got.iter().enumerate() {
                // The output coordinates of `i`, then each operand's element.
                let mut coord = vec![0; rank];
                let mut rest = i;
                for a in (0..rank).rev() {
                    coord[a] = rest % out_shape[a];
                    rest /= out_shape[a];
                }
                let at = |k: usize| {
                    let sh = &shapes[k];
                    let mut flat = 0;
                    for (j, &d) in sh.iter().enumerate() {
                        let c = coord[rank - sh.len() + j];
                        flat = flat * d + if d == 1 { 0 } else { c };
                    }
                    values[k][flat]
                };
                let mut want = at(0);
                for k in 1..count {
                    let b = at(k);
                    want = match op {
                        Merge::Add | Merge::Average => want + b,
                        Merge::Subtract => want - b,
                        Merge::Multiply => want * b,
                        Merge::Maximum => {
                            if want > b || want.is_nan() {
                                want
                            } else {
                                b
                            }
                        }
                        Merge::Minimum => {
                            if want < b || want.is_nan() {
                                want
                            } else {
                                b
                            }
                        }
                    };
                }
                if op == Merge::Average {
                    want *= 1.0 / count as f32;
                }
                assert!(
                    g.to_bits() == want.to_bits() || (g.is_nan() && want.is_nan()),
                    "case {case} {op:?} {shapes:?} -> {out_shape:?} at {i}: {g} != {want}"
                );
            }
        }
    }

    #[test]
    fn literal_values() {
        let (a, b, c) = ([1.0, -2.0], [3.0, 5.0], [2.0, f32::NAN]);
        let mut out = [0.0; 2];
        merge(Merge::Subtract, &[&a, &b], &mut out);
        assert_eq!(out, [-2.0, -7.0]);
        merge(Merge::Multiply, &[&a, &b, &a], &mut out);
        assert_eq!(out, [3.0, 20.0]);
        merge(Merge::Average, &[&a, &b], &mut out);
        assert_eq!(out, [2.0, 1.5]);
        merge(Merge::Maximum, &[&a, &b, &c], &mut out);
        assert_eq!(out[0], 3.0);
        assert!(out[1].is_nan());
        merge(Merge::Minimum, &[&a, &b], &mut out);
        assert_eq!(out, [1.0, -2.0]);
    }
}
