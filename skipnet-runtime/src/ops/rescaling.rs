//! Keras's preprocessing layers that a model keeps at its input
//! (EfficientNet starts with both): `Rescaling`, `x * scale + offset`, and
//! `Normalization`, `(x - mean) / max(sqrt(variance), 1e-7)` per channel.
//! The same float32 operations in the same order as Keras's TensorFlow
//! backend, so the results are bit for bit Keras's.

/// `out = x * scale + offset` (a multiply then an add, not fused: Keras's).
pub fn rescaling(scale: f32, offset: f32, x: &[f32], out: &mut [f32]) {
    assert_eq!(x.len(), out.len(), "rescaling: lengths");
    for (o, &v) in out.iter_mut().zip(x) {
        *o = v * scale + offset;
    }
}

/// Keras's `backend.epsilon()`, the floor of `Normalization`'s divisor.
pub const NORMALIZATION_EPSILON: f32 = 1e-7;

/// `out = (x - mean[k]) / max(sqrt(variance[k]), 1e-7)` on every row of
/// `c` channels.
///
/// # Panics
/// If `mean` or `variance` does not have `c` values or `x` and `out`
/// differ in length.
pub fn normalization(c: usize, mean: &[f32], variance: &[f32], x: &[f32], out: &mut [f32]) {
    assert_eq!(x.len(), out.len(), "normalization: lengths");
    assert!(
        mean.len() == c && variance.len() == c,
        "normalization: one mean and variance per channel"
    );
    if c == 0 {
        return;
    }
    for (orow, xrow) in out.chunks_exact_mut(c).zip(x.chunks_exact(c)) {
        for k in 0..c {
            let d = libm::sqrtf(variance[k]).max(NORMALIZATION_EPSILON);
            orow[k] = (xrow[k] - mean[k]) / d;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn literal_values() {
        let mut out = [0.0; 3];
        super::rescaling(0.5, -1.0, &[0.0, 2.0, 255.0], &mut out);
        assert_eq!(out, [-1.0, 0.0, 126.5]);
        let mut out = [0.0; 4];
        // Channel 0: mean 1, std 2; channel 1: variance 0, so 1e-7 divides.
        super::normalization(
            2,
            &[1.0, 0.0],
            &[4.0, 0.0],
            &[5.0, 1e-7, -1.0, -2e-7],
            &mut out,
        );
        assert_eq!(out, [2.0, 1.0, -1.0, -2.0]);
    }
}
