//! Average pooling, Keras `AveragePooling2D` semantics: padding cells are not
//! counted (each window's sum is divided by the cells inside the input).

use super::max_pool2d::Pool2dGeom;
use super::tap;
use crate::exec::Exec;

/// `out[y, x, c] = mean` over the window's cells that lie inside the input.
pub fn avg_pool2d(g: &Pool2dGeom, x: &[f32], out: &mut [f32]) {
    avg_pool2d_on(&mut Exec::serial(), g, x, out)
}

/// [`avg_pool2d`] with the output rows split across `exec`'s threads (when
/// the map is big enough to pay for it).
pub fn avg_pool2d_on(exec: &mut Exec, g: &Pool2dGeom, x: &[f32], out: &mut [f32]) {
    assert_eq!(x.len(), g.input.len());
    assert_eq!(out.len(), g.output.len());
    super::by_rows(exec, g, out, &|pix0, out| avg_pool_pixels(g, x, pix0, out));
}

/// Output pixels `pix0..` (as many as `out` holds).
fn avg_pool_pixels(g: &Pool2dGeom, x: &[f32], pix0: usize, out: &mut [f32]) {
    let (inp, o) = (g.input, g.output);
    if o.c == 0 {
        return;
    }
    for (pix, acc) in out.chunks_exact_mut(o.c).enumerate() {
        let pix = pix0 + pix;
        let (oy, ox) = (pix / o.w, pix % o.w);
        acc.fill(0.0);
        let mut cells = 0u32;
        for ky in 0..g.pool.0 {
            let Some(iy) = tap(oy, g.strides.0, ky, 1, g.pad.0, inp.h) else {
                continue;
            };
            for kx in 0..g.pool.1 {
                let Some(ix) = tap(ox, g.strides.1, kx, 1, g.pad.1, inp.w) else {
                    continue;
                };
                cells += 1;
                let xp = &x[(iy * inp.w + ix) * inp.c..][..inp.c];
                for (a, &v) in acc.iter_mut().zip(xp) {
                    *a += v;
                }
            }
        }
        // A window always holds at least one input cell (shape rules).
        let inv = 1.0 / cells.max(1) as f32;
        acc.iter_mut().for_each(|a| *a *= inv);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::Hwc;

    #[test]
    fn same_padding_cells_are_not_counted() {
        // 3x1 map [1, 2, 3], pool 2 stride 2 same -> [1.5, 3] (the last window
        // holds one real cell, not (3 + 0) / 2).
        let g = Pool2dGeom {
            input: Hwc { h: 3, w: 1, c: 1 },
            output: Hwc { h: 2, w: 1, c: 1 },
            pool: (2, 1),
            strides: (2, 1),
            pad: (0, 0),
        };
        let mut out = [0.0; 2];
        avg_pool2d(&g, &[1.0, 2.0, 3.0], &mut out);
        assert_eq!(out, [1.5, 3.0]);
    }
}
