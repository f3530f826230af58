//! Fully connected layer, Keras `Dense` (kernel `[features, units]`), applied to
//! each row of `features` values.

use crate::Activation;

/// `out[r, u] = act(bias[u] + sum_i x[r, i] * kernel[i, u])` for every row `r`.
///
/// Loops run over `i` outside and `u` inside, so the inner loop is a contiguous
/// `axpy` over one kernel row that the compiler vectorizes.
pub fn dense(
    features: usize,
    units: usize,
    act: Activation,
    x: &[f32],
    kernel: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
) {
    assert_eq!(kernel.len(), features * units);
    assert_eq!(x.len() / features.max(1), out.len() / units.max(1));
    if let Some(b) = bias {
        assert_eq!(b.len(), units);
    }
    if units == 0 {
        return;
    }
    for (row, orow) in out.chunks_exact_mut(units).enumerate() {
        match bias {
            Some(b) => orow.copy_from_slice(b),
            None => orow.fill(0.0),
        }
        let xrow = &x[row * features..][..features];
        for (&xi, krow) in xrow.iter().zip(kernel.chunks_exact(units)) {
            for (o, &k) in orow.iter_mut().zip(krow) {
                *o += xi * k;
            }
        }
        act.apply(orow);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_values() {
        // x = [1, 2]; kernel = [[1, 0, -1], [2, 1, 0]]; bias = [0.5, 0, 0].
        let mut out = [0.0; 3];
        dense(
            2,
            3,
            Activation::Linear,
            &[1.0, 2.0],
            &[1.0, 0.0, -1.0, 2.0, 1.0, 0.0],
            Some(&[0.5, 0.0, 0.0]),
            &mut out,
        );
        assert_eq!(out, [5.5, 2.0, -1.0]);
        dense(
            2,
            3,
            Activation::Relu,
            &[1.0, 2.0],
            &[1.0, 0.0, -1.0, 2.0, 1.0, 0.0],
            None,
            &mut out,
        );
        assert_eq!(out, [5.0, 2.0, 0.0]);
    }

    #[test]
    fn rows_are_independent() {
        // Two rows of one feature, two units.
        let mut out = [0.0; 4];
        dense(
            1,
            2,
            Activation::Linear,
            &[1.0, -3.0],
            &[2.0, 3.0],
            None,
            &mut out,
        );
        assert_eq!(out, [2.0, 3.0, -6.0, -9.0]);
    }
}
