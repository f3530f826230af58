//! Upsampling, Keras `UpSampling2D`: nearest neighbour, and bilinear with
//! TensorFlow's half-pixel centres (`tf.image.resize`, no antialiasing).

use super::Hwc;

/// `out[y, x, c] = x[y / sh, x / sw, c]` for an output of `input.h * sh` by
/// `input.w * sw`. Element-generic: int8 nearest upsampling is the same copy
/// (TFLite's RESIZE_NEAREST_NEIGHBOR keeps its input's quantization).
pub fn upsample2d_nearest<T: Copy>(input: Hwc, size: (usize, usize), x: &[T], out: &mut [T]) {
    let (sh, sw) = size;
    let ow = input.w * sw;
    assert_eq!(x.len(), input.len());
    assert_eq!(out.len(), input.len() * sh * sw);
    for (row, orow) in out.chunks_exact_mut(ow * input.c).enumerate() {
        let irow = &x[(row / sh) * input.w * input.c..][..input.w * input.c];
        for (ox, opix) in orow.chunks_exact_mut(input.c).enumerate() {
            opix.copy_from_slice(&irow[(ox / sw) * input.c..][..input.c]);
        }
    }
}

/// Source row or column of output `o` along an axis scaled by `factor`:
/// the two neighbours and the weight of the second (half-pixel centres,
/// clamped at the borders).
fn bilinear_tap(o: usize, factor: usize, len: usize) -> (usize, usize, f32) {
    let pos = ((o as f32 + 0.5) / factor as f32 - 0.5).max(0.0);
    let lo = (pos as usize).min(len.saturating_sub(1));
    let hi = (lo + 1).min(len.saturating_sub(1));
    (lo, hi, pos - lo as f32)
}

/// Bilinear upsampling by integer factors: each output pixel interpolates the
/// four input pixels around its centre mapped back to the input.
pub fn upsample2d_bilinear(input: Hwc, size: (usize, usize), x: &[f32], out: &mut [f32]) {
    let (sh, sw) = size;
    let (oh, ow, c) = (input.h * sh, input.w * sw, input.c);
    assert_eq!(x.len(), input.len());
    assert_eq!(out.len(), oh * ow * c);
    if c == 0 || ow == 0 {
        return;
    }
    for (oy, orow) in out.chunks_exact_mut(ow * c).enumerate() {
        let (y0, y1, fy) = bilinear_tap(oy, sh, input.h);
        for (ox, opix) in orow.chunks_exact_mut(c).enumerate() {
            let (x0, x1, fx) = bilinear_tap(ox, sw, input.w);
            let px = |y: usize, xx: usize| &x[(y * input.w + xx) * c..][..c];
            let (a, b, cc, d) = (px(y0, x0), px(y0, x1), px(y1, x0), px(y1, x1));
            for k in 0..c {
                let top = a[k] + (b[k] - a[k]) * fx;
                let bottom = cc[k] + (d[k] - cc[k]) * fx;
                opix[k] = top + (bottom - top) * fy;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bilinear_half_pixel_centres() {
        // 1x2 map [0, 4], factor 2 along W: centres map to -0.25, 0.25, 0.75, 1.25
        // -> clamped 0, 0.25, 0.75, 1 (as TF): [0, 1, 3, 4].
        let mut out = [0.0; 4];
        upsample2d_bilinear(Hwc { h: 1, w: 2, c: 1 }, (1, 2), &[0.0, 4.0], &mut out);
        assert_eq!(out, [0.0, 1.0, 3.0, 4.0]);
    }

    #[test]
    fn repeats_rows_and_columns() {
        // 1x2 map with 2 channels, size (2, 3) -> 2x6x2: each pixel thrice per row, the row twice.
        let row = [1.0, 2.0, 1.0, 2.0, 1.0, 2.0, 3.0, 4.0, 3.0, 4.0, 3.0, 4.0];
        let mut want = [0.0; 24];
        want[..12].copy_from_slice(&row);
        want[12..].copy_from_slice(&row);
        let mut out = [0.0; 24];
        upsample2d_nearest(
            Hwc { h: 1, w: 2, c: 2 },
            (2, 3),
            &[1.0, 2.0, 3.0, 4.0],
            &mut out,
        );
        assert_eq!(out, want);
    }
}
