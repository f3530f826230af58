//! Nearest-neighbour upsampling, Keras `UpSampling2D(interpolation="nearest")`.

use super::Hwc;

/// `out[y, x, c] = x[y / sh, x / sw, c]` for an output of `input.h * sh` by `input.w * sw`.
pub fn upsample2d_nearest(input: Hwc, size: (usize, usize), x: &[f32], out: &mut [f32]) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
