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
    // The divisors of up to `BLOCK` channels at a time on the stack, so
    // the square roots are taken once per call, not once per pixel.
    const BLOCK: usize = 64;
    let mut d = [0.0f32; BLOCK];
    if c < BLOCK {
        // Few channels (an RGB input): divisors and means tiled to a whole
        // number of pixels, so the loop runs over that many floats at a time
        // and vectorizes (per pixel, 3 scalar divisions: 0.8 ns a float).
        let period = c * (BLOCK / c);
        let mut m = [0.0f32; BLOCK];
        for i in 0..period {
            d[i] = libm::sqrtf(variance[i % c]).max(NORMALIZATION_EPSILON);
            m[i] = mean[i % c];
        }
        let (d, m) = (&d[..period], &m[..period]);
        let mut outs = out.chunks_exact_mut(period);
        let mut xs = x.chunks_exact(period);
        for (orow, xrow) in (&mut outs).zip(&mut xs) {
            for (((o, &x), &m), &d) in orow.iter_mut().zip(xrow).zip(m).zip(d) {
                *o = (x - m) / d;
            }
        }
        // The last pixels (fewer than a period; `x.len()` is whole pixels).
        for (((o, &x), &m), &d) in outs
            .into_remainder()
            .iter_mut()
            .zip(xs.remainder())
            .zip(m)
            .zip(d)
        {
            *o = (x - m) / d;
        }
        return;
    }
    for k0 in (0..c).step_by(BLOCK) {
        let kb = BLOCK.min(c - k0);
        for (d, &v) in d.iter_mut().zip(&variance[k0..k0 + kb]) {
            *d = libm::sqrtf(v).max(NORMALIZATION_EPSILON);
        }
        let (d, mean) = (&d[..kb], &mean[k0..k0 + kb]);
        for (orow, xrow) in out.chunks_exact_mut(c).zip(x.chunks_exact(c)) {
            let (orow, xrow) = (&mut orow[k0..k0 + kb], &xrow[k0..k0 + kb]);
            for (((o, &x), &m), &d) in orow.iter_mut().zip(xrow).zip(mean).zip(d) {
                *o = (x - m) / d;
            }
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

    /// More channels than one block of divisors, and few (tiled): every
    /// element is Keras's formula, bit for bit.
    #[test]
    fn channels_past_a_block_are_each_normalized() {
        for c in [70, 3, 1, 63, 64] {
            channels_are_each_normalized(c);
        }
    }

    /// `c` channels, 50 pixels (tiled periods and a remainder for small
    /// `c`).
    fn channels_are_each_normalized(c: usize) {
        let mean: [f32; 70] = core::array::from_fn(|k| k as f32 * 0.3 - 9.0);
        let var: [f32; 70] = core::array::from_fn(|k| (k % 7) as f32 * 1.7);
        let x: [f32; 3500] = core::array::from_fn(|i| (i * 37 % 101) as f32 * 0.21 - 10.0);
        let (mean, var, x) = (&mean[..c], &var[..c], &x[..50 * c]);
        let mut out = [0.0; 3500];
        let out = &mut out[..50 * c];
        super::normalization(c, mean, var, x, out);
        for (i, &o) in out.iter().enumerate() {
            let k = i % c;
            let want = (x[i] - mean[k]) / libm::sqrtf(var[k]).max(super::NORMALIZATION_EPSILON);
            assert_eq!(o.to_bits(), want.to_bits(), "{i}");
        }
    }
}
