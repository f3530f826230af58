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
    /// The step folding one more operand in (`Average` sums; the caller
    /// divides).
    fn pairwise(self) -> fn(f32, f32) -> f32 {
        match self {
            Merge::Add => |a, b| a + b,
            Merge::Subtract => |a, b| a - b,
            Merge::Multiply => |a, b| a * b,
            Merge::Average => |a, b| a + b,
            Merge::Maximum => |a, b| if a > b || a.is_nan() { a } else { b },
            Merge::Minimum => |a, b| if a < b || a.is_nan() { a } else { b },
        }
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
        let f = op.pairwise();
        for (o, &b) in out.iter_mut().zip(r.iter()) {
            *o = f(*o, b);
        }
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
    let f = op.pairwise();
    let inv = 1.0 / operands.len() as f32;
    let mut idx = [0usize; MAX_RANK];
    for o in out.iter_mut() {
        let at = |st: &[usize; MAX_RANK]| (0..rank).map(|a| idx[a] * st[a]).sum::<usize>();
        let mut acc = operands[0].0[at(&strides[0])];
        for ((v, _), st) in operands.iter().zip(strides.iter()).skip(1) {
            acc = f(acc, v[at(st)]);
        }
        *o = if op == Merge::Average { acc * inv } else { acc };
        // The next output element's coordinates (last axis fastest).
        for a in (0..rank).rev() {
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
