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
    // Channel by channel, so each square root is taken once per call, not
    // once per pixel.
    for k in 0..c {
        let scale = gamma[k] / libm::sqrtf(variance[k] + epsilon);
        let (m, b) = (mean[k], beta[k]);
        for (o, &v) in out[k..].iter_mut().step_by(c).zip(x[k..].iter().step_by(c)) {
            *o = (v - m) * scale + b;
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

/// Folding a batch norm into the conv before it (done once, at load time):
/// `scale[f] = gamma[f] / sqrt(variance[f] + epsilon)`.
pub fn fold_scale(gamma: &[f32], variance: &[f32], epsilon: f32, scale: &mut [f32]) {
    assert_eq!(gamma.len(), scale.len());
    assert_eq!(variance.len(), scale.len());
    for ((s, g), v) in scale.iter_mut().zip(gamma).zip(variance) {
        *s = g / libm::sqrtf(v + epsilon);
    }
}

/// Multiplies a Keras-layout kernel (filters on the last axis) by `scale`.
pub fn scale_filters(kernel: &mut [f32], scale: &[f32]) {
    if scale.is_empty() {
        return;
    }
    assert_eq!(kernel.len() % scale.len(), 0);
    for row in kernel.chunks_exact_mut(scale.len()) {
        for (k, s) in row.iter_mut().zip(scale) {
            *k *= s;
        }
    }
}

/// The folded conv's bias: `(bias - moving_mean) * scale + beta` (no bias: 0).
pub fn fold_bias(bias: Option<&[f32]>, beta: &[f32], mean: &[f32], scale: &[f32], out: &mut [f32]) {
    assert_eq!(beta.len(), out.len());
    assert_eq!(mean.len(), out.len());
    assert_eq!(scale.len(), out.len());
    for f in 0..out.len() {
        let b = bias.map_or(0.0, |b| b[f]);
        out[f] = (b - mean[f]) * scale[f] + beta[f];
    }
}

#[cfg(test)]
mod fold_tests {
    use super::*;

    #[test]
    fn folded_conv_equals_conv_then_batch_norm() {
        // A 1x1 "conv" of one pixel, 2 inputs -> 2 filters, then batch norm.
        let (x, kernel, bias) = ([1.5f32, -2.0], [1.0f32, 2.0, -1.0, 0.5], [0.1f32, -0.3]);
        let (gamma, beta, mean, var) =
            ([2.0f32, 0.5], [0.2f32, -0.1], [0.3f32, 1.0], [4.0f32, 0.25]);
        let conv = |k: &[f32], b: &[f32]| {
            [
                x[0] * k[0] + x[1] * k[2] + b[0],
                x[0] * k[1] + x[1] * k[3] + b[1],
            ]
        };
        let mut want = [0.0; 2];
        batch_norm(
            2,
            0.0,
            &gamma,
            &beta,
            &mean,
            &var,
            &conv(&kernel, &bias),
            &mut want,
        );
        let mut scale = [0.0; 2];
        fold_scale(&gamma, &var, 0.0, &mut scale);
        let mut k = kernel;
        scale_filters(&mut k, &scale);
        let mut b = [0.0; 2];
        fold_bias(Some(&bias), &beta, &mean, &scale, &mut b);
        let got = conv(&k, &b);
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{got:?} {want:?}");
        }
    }
}
