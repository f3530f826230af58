//! Element-wise merges of same-shaped tensors, Keras `Subtract`, `Multiply`,
//! `Average`, `Maximum`, `Minimum` (`add` has its own kernel and fusions).

/// Which merge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Merge {
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
        let f: fn(f32, f32) -> f32 = match op {
            Merge::Subtract => |a, b| a - b,
            Merge::Multiply => |a, b| a * b,
            Merge::Average => |a, b| a + b,
            Merge::Maximum => |a, b| if a > b || a.is_nan() { a } else { b },
            Merge::Minimum => |a, b| if a < b || a.is_nan() { a } else { b },
        };
        for (o, &b) in out.iter_mut().zip(r.iter()) {
            *o = f(*o, b);
        }
    }
    if op == Merge::Average {
        let inv = 1.0 / operands.len() as f32;
        out.iter_mut().for_each(|o| *o *= inv);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
