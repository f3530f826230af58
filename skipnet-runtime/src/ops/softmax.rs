//! Softmax over the last axis (Keras `Softmax`, `activation = softmax`).

/// In place: each row of `n` values becomes `exp(x - max) / sum`. Rows are
/// channels for a feature map, the whole vector for `[N]`. NaN propagates.
pub fn softmax_rows(n: usize, v: &mut [f32]) {
    if n == 0 {
        return;
    }
    assert_eq!(v.len() % n, 0);
    for row in v.chunks_exact_mut(n) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0;
        for x in row.iter_mut() {
            *x = libm::expf(*x - max);
            sum += *x;
        }
        let inv = 1.0 / sum;
        row.iter_mut().for_each(|x| *x *= inv);
    }
}

/// `out = softmax(x)` over rows of `n`.
pub fn softmax(n: usize, x: &[f32], out: &mut [f32]) {
    out.copy_from_slice(x);
    softmax_rows(n, out);
}

#[cfg(test)]
mod tests {
    #[test]
    fn rows_sum_to_one_and_keep_order() {
        let mut v = [1.0, 2.0, 3.0, 1000.0, 1000.0, 1000.0];
        super::softmax_rows(3, &mut v);
        let want = [0.090_030_57, 0.244_728_48, 0.665_240_94];
        for (a, b) in v[..3].iter().zip(want) {
            assert!((a - b).abs() < 1e-6);
        }
        // Large inputs do not overflow: the max is subtracted first.
        for a in &v[3..] {
            assert!((a - 1.0 / 3.0).abs() < 1e-6);
        }
    }
}
