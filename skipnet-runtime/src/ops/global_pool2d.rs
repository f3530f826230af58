//! Global pooling over H and W, Keras `GlobalAveragePooling2D` and
//! `GlobalMaxPooling2D` (`keepdims = False`): `[H, W, C]` to `[C]`.

use super::Hwc;

/// `out[c] = mean over (y, x) of x[y, x, c]`.
pub fn global_avg_pool2d(input: Hwc, x: &[f32], out: &mut [f32]) {
    assert_eq!(x.len(), input.len());
    assert_eq!(out.len(), input.c);
    out.fill(0.0);
    if input.c == 0 {
        return;
    }
    for pixel in x.chunks_exact(input.c) {
        for (o, &v) in out.iter_mut().zip(pixel) {
            *o += v;
        }
    }
    let scale = 1.0 / (input.h * input.w) as f32;
    out.iter_mut().for_each(|o| *o *= scale);
}

/// `out[c] = max over (y, x) of x[y, x, c]`; NaN propagates, as in TF.
pub fn global_max_pool2d(input: Hwc, x: &[f32], out: &mut [f32]) {
    assert_eq!(x.len(), input.len());
    assert_eq!(out.len(), input.c);
    out.fill(f32::NEG_INFINITY);
    if input.c == 0 {
        return;
    }
    for pixel in x.chunks_exact(input.c) {
        for (o, &v) in out.iter_mut().zip(pixel) {
            if v > *o || v.is_nan() {
                *o = v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IN: Hwc = Hwc { h: 2, w: 1, c: 2 };

    #[test]
    fn average_and_max() {
        let x = [1.0, -4.0, 3.0, 2.0];
        let mut out = [9.0; 2];
        global_avg_pool2d(IN, &x, &mut out);
        assert_eq!(out, [2.0, -1.0]);
        global_max_pool2d(IN, &x, &mut out);
        assert_eq!(out, [3.0, 2.0]);
    }

    #[test]
    fn max_propagates_nan() {
        let mut out = [0.0; 2];
        global_max_pool2d(IN, &[f32::NAN, 1.0, 5.0, 2.0], &mut out);
        assert!(out[0].is_nan());
        assert_eq!(out[1], 2.0);
    }
}
