//! Max pooling, Keras `MaxPooling2D` semantics (padding cells never win).

use super::{tap, Hwc};
use crate::exec::Exec;

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
    max_pool2d_on(&mut Exec::serial(), g, x, out)
}

/// [`max_pool2d`] with the output rows split across `exec`'s threads (when
/// the map is big enough to pay for it).
pub fn max_pool2d_on(exec: &mut Exec, g: &Pool2dGeom, x: &[f32], out: &mut [f32]) {
    assert_eq!(x.len(), g.input.len());
    assert_eq!(out.len(), g.output.len());
    super::by_rows(exec, g, out, &|pix0, out| max_pool_pixels(g, x, pix0, out));
}

/// Output pixels `pix0..` (as many as `out` holds), on the widest vectors
/// this CPU has: the loop is plain Rust, compiled once more with AVX2
/// enabled (the portable build only assumes SSE2 on x86_64).
fn max_pool_pixels(g: &Pool2dGeom, x: &[f32], pix0: usize, out: &mut [f32]) {
    #[cfg(all(target_arch = "x86_64", feature = "std"))]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (just checked); the function is
        // the safe loop below compiled with AVX2 enabled.
        unsafe { max_pool_pixels_avx2(g, x, pix0, out) };
        return;
    }
    max_pool_pixels_generic(g, x, pix0, out)
}

/// # Safety
/// The CPU must support AVX2.
#[cfg(all(target_arch = "x86_64", feature = "std"))]
#[target_feature(enable = "avx2")]
unsafe fn max_pool_pixels_avx2(g: &Pool2dGeom, x: &[f32], pix0: usize, out: &mut [f32]) {
    max_pool_pixels_generic(g, x, pix0, out)
}

#[inline(always)]
fn max_pool_pixels_generic(g: &Pool2dGeom, x: &[f32], pix0: usize, out: &mut [f32]) {
    let (inp, o) = (g.input, g.output);
    if o.c == 0 {
        return;
    }
    for (pix, acc) in out.chunks_exact_mut(o.c).enumerate() {
        let pix = pix0 + pix;
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
                    // NaN propagates, as in TF. Non-short-circuit `|`: a
                    // select the compiler vectorizes (a branch it does not).
                    *a = if (v > *a) | v.is_nan() { v } else { *a };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Split across threads (a map big enough to be split), both poolings
    /// give bit for bit the single-threaded result.
    #[cfg(feature = "parallel")]
    #[test]
    fn threads_give_the_serial_result() {
        use crate::ops::avg_pool2d::{avg_pool2d, avg_pool2d_on};
        let g = Pool2dGeom {
            input: Hwc {
                h: 113,
                w: 111,
                c: 40,
            },
            output: Hwc {
                h: 57,
                w: 56,
                c: 40,
            },
            pool: (3, 3),
            strides: (2, 2),
            pad: (1, 1),
        };
        assert!(g.output.len() * 9 >= super::super::PARALLEL_MIN_READS);
        let x: alloc::vec::Vec<f32> = (0..g.input.len())
            .map(|i| ((i * 7919) % 1013) as f32 - 500.0)
            .collect();
        let mut exec = Exec::with_threads(3);
        type Pool = fn(&Pool2dGeom, &[f32], &mut [f32]);
        type PoolOn = fn(&mut Exec, &Pool2dGeom, &[f32], &mut [f32]);
        let kernels: [(Pool, PoolOn); 2] =
            [(max_pool2d, max_pool2d_on), (avg_pool2d, avg_pool2d_on)];
        for (serial, on) in kernels {
            let mut want = alloc::vec![0.0; g.output.len()];
            serial(&g, &x, &mut want);
            let mut got = alloc::vec![f32::NAN; g.output.len()];
            on(&mut exec, &g, &x, &mut got);
            assert!(want
                .iter()
                .zip(&got)
                .all(|(a, b)| a.to_bits() == b.to_bits()));
        }
    }

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
