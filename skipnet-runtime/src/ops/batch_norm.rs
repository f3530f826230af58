//! Batch normalization in inference form, Keras `BatchNormalization` on the
//! last axis: `(x - moving_mean) / sqrt(moving_variance + epsilon) * gamma + beta`.

/// Normalizes every row of `c` channels of `x` into `out`.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm(
    c: usize,
    epsilon: f32,
    gamma: &[f32],
    beta: &[f32],
    mean: &[f32],
    variance: &[f32],
    x: &[f32],
    out: &mut [f32],
) {
    assert_eq!(x.len(), out.len());
    for p in [gamma, beta, mean, variance] {
        assert_eq!(p.len(), c);
    }
    if c == 0 {
        return;
    }
    for (orow, xrow) in out.chunks_exact_mut(c).zip(x.chunks_exact(c)) {
        for k in 0..c {
            let inv = 1.0 / libm::sqrtf(variance[k] + epsilon);
            orow[k] = (xrow[k] - mean[k]) * inv * gamma[k] + beta[k];
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn literal_values() {
        // Two pixels, two channels: channel 0 mean 1 var 4 (std 2), channel 1 identity.
        let mut out = [0.0; 4];
        super::batch_norm(
            2,
            0.0,
            &[2.0, 1.0],
            &[0.5, 0.0],
            &[1.0, 0.0],
            &[4.0, 1.0],
            &[3.0, 7.0, -1.0, -7.0],
            &mut out,
        );
        assert_eq!(out, [2.5, 7.0, -1.5, -7.0]);
    }
}
