//! Max pooling, Keras `MaxPooling2D` semantics (padding cells never win).

use super::{tap, Hwc};

/// Geometry of one `max_pool2d` layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool2dGeom {
    /// Input map.
    pub input: Hwc,
    /// Output map (same channels).
    pub output: Hwc,
    /// Window height and width.
    pub pool: (usize, usize),
    /// Strides along H and W.
    pub strides: (usize, usize),
    /// Padding cells before row 0 and column 0.
    pub pad: (usize, usize),
}

/// `out[y, x, c] = max` over the window's cells that lie inside the input.
pub fn max_pool2d(g: &Pool2dGeom, x: &[f32], out: &mut [f32]) {
    let (inp, o) = (g.input, g.output);
    assert_eq!(x.len(), inp.len());
    assert_eq!(out.len(), o.len());
    for (pix, acc) in out.chunks_exact_mut(o.c).enumerate() {
        let (oy, ox) = (pix / o.w, pix % o.w);
        acc.fill(f32::NEG_INFINITY);
        for ky in 0..g.pool.0 {
            let Some(iy) = tap(oy, g.strides.0, ky, 1, g.pad.0, inp.h) else {
                continue;
            };
            for kx in 0..g.pool.1 {
                let Some(ix) = tap(ox, g.strides.1, kx, 1, g.pad.1, inp.w) else {
                    continue;
                };
                let xp = &x[(iy * inp.w + ix) * inp.c..][..inp.c];
                for (a, &v) in acc.iter_mut().zip(xp) {
                    // NaN propagates, as in TF.
                    if v > *a || v.is_nan() {
                        *a = v;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_2x2() {
        let g = Pool2dGeom {
            input: Hwc { h: 2, w: 4, c: 1 },
            output: Hwc { h: 1, w: 2, c: 1 },
            pool: (2, 2),
            strides: (2, 2),
            pad: (0, 0),
        };
        let mut out = [0.0; 2];
        max_pool2d(&g, &[1.0, 5.0, -1.0, -2.0, 3.0, 2.0, -3.0, -4.0], &mut out);
        assert_eq!(out, [5.0, -1.0]);
    }

    #[test]
    fn same_on_odd_map_ignores_padding() {
        // 3x3 negative map, pool 2 stride 2 same -> 2x2; pad_total = 1 goes bottom/right.
        let g = Pool2dGeom {
            input: Hwc { h: 3, w: 3, c: 1 },
            output: Hwc { h: 2, w: 2, c: 1 },
            pool: (2, 2),
            strides: (2, 2),
            pad: (0, 0),
        };
        let x: [f32; 9] = core::array::from_fn(|i| -(i as f32) - 1.0);
        let mut out = [0.0; 4];
        max_pool2d(&g, &x, &mut out);
        assert_eq!(out, [-1.0, -3.0, -7.0, -9.0]);
    }
}
