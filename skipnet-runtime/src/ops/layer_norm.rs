//! Layer normalization on the last axis, Keras `LayerNormalization`
//! (ConvNeXt's and the transformers' norm): per row of `c` values, `mean`
//! and `variance` over the row, then as Keras computes it, `inv =
//! gamma / sqrt(variance + epsilon)`, `out = x * inv + (beta - mean * inv)`.
//! The row's sums are taken in f64 (Keras's float32 reductions are close
//! to exact; an f32 running sum over wide rows is not).

/// Normalizes every row of `c` values of `x` into `out`; `gamma` (scale)
/// and `beta` (center) are optional, as Keras's `scale` and `center`.
///
/// # Panics
/// If `gamma` or `beta` does not have `c` values, or `x` and `out` differ
/// in length.
pub fn layer_norm(
    c: usize,
    epsilon: f32,
    gamma: Option<&[f32]>,
    beta: Option<&[f32]>,
    x: &[f32],
    out: &mut [f32],
) {
    assert_eq!(x.len(), out.len(), "layer_norm: lengths");
    for p in [gamma, beta].into_iter().flatten() {
        assert_eq!(p.len(), c, "layer_norm: one gamma and beta per channel");
    }
    if c == 0 {
        return;
    }
    for (orow, xrow) in out.chunks_exact_mut(c).zip(x.chunks_exact(c)) {
        let mean = xrow.iter().map(|&v| f64::from(v)).sum::<f64>() / c as f64;
        let var = xrow
            .iter()
            .map(|&v| {
                let d = f64::from(v) - mean;
                d * d
            })
            .sum::<f64>()
            / c as f64;
        let (mean, var) = (mean as f32, var as f32);
        let rsqrt = 1.0 / libm::sqrtf(var + epsilon);
        for k in 0..c {
            let inv = gamma.map_or(rsqrt, |g| rsqrt * g[k]);
            let res = beta.map_or(-mean * inv, |b| -mean * inv + b[k]);
            orow[k] = xrow[k] * inv + res;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn literal_values() {
        // One row: mean 2, variance 2/3 (values 1, 2, 3); epsilon 0.
        let mut out = [0.0; 3];
        super::layer_norm(3, 0.0, None, None, &[1.0, 2.0, 3.0], &mut out);
        let s = (1.5f32).sqrt();
        for (o, w) in out.iter().zip([-s, 0.0, s]) {
            assert!((o - w).abs() < 1e-6, "{out:?}");
        }
        super::layer_norm(
            3,
            0.0,
            Some(&[2.0, 1.0, 1.0]),
            Some(&[0.5, 0.0, -1.0]),
            &[1.0, 2.0, 3.0],
            &mut out,
        );
        for (o, w) in out.iter().zip([-2.0 * s + 0.5, 0.0, s - 1.0]) {
            assert!((o - w).abs() < 1e-6, "{out:?}");
        }
    }
}
