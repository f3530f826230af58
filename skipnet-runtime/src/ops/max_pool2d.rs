//! Max pooling, Keras `MaxPooling2D` semantics (padding cells never win).

use super::Hwc;
use crate::exec::Exec;
use crate::isa::Isa;

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
/// the map is big enough to pay for it), on `exec`'s ISA: AVX2 for the x86
/// ones, else the portable loop.
pub fn max_pool2d_on(exec: &mut Exec, g: &Pool2dGeom, x: &[f32], out: &mut [f32]) {
    assert_eq!(x.len(), g.input.len());
    assert_eq!(out.len(), g.output.len());
    let avx2 = matches!(exec.isa(), Isa::Avx512 | Isa::Avx2Fma);
    super::by_rows(exec, g, out, &|pix0, out| {
        max_pool_pixels(avx2, g, x, pix0, out)
    });
}

/// Output pixels `pix0..` (as many as `out` holds): with AVX2 if `avx2`
/// and this CPU has it, else the portable loop.
fn max_pool_pixels(avx2: bool, g: &Pool2dGeom, x: &[f32], pix0: usize, out: &mut [f32]) {
    #[cfg(all(target_arch = "x86_64", feature = "std"))]
    if avx2 && std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (just checked).
        unsafe { max_pool_pixels_avx2(g, x, pix0, out) };
        return;
    }
    let _ = avx2;
    max_pool_pixels_generic(g, x, pix0, out)
}

/// [`max_pool_pixels_generic`] with the maxima of [`BLOCK`] channels at a
/// time in `ymm` registers, over the window cells inside the input (a
/// contiguous range of rows and of columns). Left to itself, the compiler
/// shuffled a local block through `xmm` halves: 490 µs for 112x112x64 ->
/// 56x56x64 on Zen 3, this 196 (`cargo bench --bench conv -- max_pool`:
/// 269-357 in a noisier hour, against 1,489 for the in-place select).
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(all(target_arch = "x86_64", feature = "std"))]
#[target_feature(enable = "avx2")]
unsafe fn max_pool_pixels_avx2(g: &Pool2dGeom, x: &[f32], pix0: usize, out: &mut [f32]) {
    use core::arch::x86_64::*;
    let (inp, o) = (g.input, g.output);
    if o.c == 0 {
        return;
    }
    let whole = o.c / 8 * 8;
    for (pix, out_px) in out.chunks_exact_mut(o.c).enumerate() {
        let pix = pix0 + pix;
        let (ys, xs) = (
            cells(pix / o.w, g.strides.0, g.pad.0, g.pool.0, inp.h),
            cells(pix % o.w, g.strides.1, g.pad.1, g.pool.1, inp.w),
        );
        let mut c0 = 0;
        while c0 < whole {
            let n = (whole - c0).min(BLOCK);
            let mut acc = [_mm256_set1_ps(f32::NEG_INFINITY); BLOCK / 8];
            for iy in ys.clone() {
                for ix in xs.clone() {
                    let xp = &x[(iy * inp.w + ix) * inp.c + c0..][..n];
                    for (a, v) in acc.iter_mut().zip(xp.chunks_exact(8)) {
                        // SAFETY: `v` holds 8 floats (`chunks_exact`).
                        let v = unsafe { _mm256_loadu_ps(v.as_ptr()) };
                        // `max_nan` on 8 lanes: `v` where larger or NaN.
                        let take = _mm256_or_ps(
                            _mm256_cmp_ps::<_CMP_LT_OQ>(*a, v),
                            _mm256_cmp_ps::<_CMP_UNORD_Q>(v, v),
                        );
                        *a = _mm256_blendv_ps(*a, v, take);
                    }
                }
            }
            for (a, dst) in acc.iter().zip(out_px[c0..c0 + n].chunks_exact_mut(8)) {
                // SAFETY: `dst` holds 8 floats (`chunks_exact_mut`).
                unsafe { _mm256_storeu_ps(dst.as_mut_ptr(), *a) };
            }
            c0 += n;
        }
        for c in whole..o.c {
            let mut m = f32::NEG_INFINITY;
            for iy in ys.clone() {
                for ix in xs.clone() {
                    m = max_nan(m, x[(iy * inp.w + ix) * inp.c + c]);
                }
            }
            out_px[c] = m;
        }
    }
}

/// The input rows (or columns) of output row `o`'s window that lie inside
/// the input's `len`: a contiguous range (cells in the padding never win).
fn cells(o: usize, stride: usize, pad: usize, pool: usize, len: usize) -> core::ops::Range<usize> {
    let first = o * stride;
    let lo = first.max(pad) - pad;
    let hi = (first + pool).saturating_sub(pad).min(len);
    lo..hi.max(lo)
}

/// Channels whose maxima one pass over a window keeps in registers, stored
/// once per pixel. (Updating the output in place, `*a = if v > *a { v }
/// else { *a }`, compiled to `vmaskmovps` stores, microcoded on AMD:
/// 112x112x64 -> 56x56x64 took 1.1 ms.)
const BLOCK: usize = 32;

#[inline(always)]
fn max_pool_pixels_generic(g: &Pool2dGeom, x: &[f32], pix0: usize, out: &mut [f32]) {
    let (inp, o) = (g.input, g.output);
    if o.c == 0 {
        return;
    }
    for (pix, out_px) in out.chunks_exact_mut(o.c).enumerate() {
        let pix = pix0 + pix;
        let (ys, xs) = (
            cells(pix / o.w, g.strides.0, g.pad.0, g.pool.0, inp.h),
            cells(pix % o.w, g.strides.1, g.pad.1, g.pool.1, inp.w),
        );
        for (c0, dst) in (0..o.c).step_by(BLOCK).zip(out_px.chunks_mut(BLOCK)) {
            let mut acc = [f32::NEG_INFINITY; BLOCK];
            for iy in ys.clone() {
                for ix in xs.clone() {
                    let xp = &x[(iy * inp.w + ix) * inp.c + c0..][..dst.len()];
                    for (a, &v) in acc.iter_mut().zip(xp) {
                        *a = max_nan(*a, v);
                    }
                }
            }
            dst.copy_from_slice(&acc[..dst.len()]);
        }
    }
}

/// The larger of `a` and `v`; NaN propagates, as in TF (a NaN `a` stays,
/// a NaN `v` replaces it). Non-short-circuit `|`: a select the compiler
/// vectorizes (a branch it does not).
#[inline(always)]
fn max_nan(a: f32, v: f32) -> f32 {
    if (v > a) | v.is_nan() {
        v
    } else {
        a
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

    /// A NaN in a window makes its maximum NaN (as TF's), on every ISA of
    /// this machine, in whole 8-channel blocks and in the channels past them.
    #[test]
    fn nan_in_a_window_wins_on_every_isa() {
        for c in [3usize, 8, 11, 40] {
            let g = Pool2dGeom {
                input: Hwc { h: 5, w: 5, c },
                output: Hwc { h: 3, w: 3, c },
                pool: (3, 3),
                strides: (2, 2),
                pad: (1, 1),
            };
            let nan_at = |i: usize| i % 37 == 5;
            let x: alloc::vec::Vec<f32> = (0..g.input.len())
                .map(|i| {
                    if nan_at(i) {
                        f32::NAN
                    } else {
                        (i % 13) as f32 - 6.0
                    }
                })
                .collect();
            for isa in crate::testing::isas_under_test("max_pool2d nan") {
                let mut exec = Exec::serial();
                exec.set_isa(isa).unwrap();
                let mut got = alloc::vec![0.0; g.output.len()];
                max_pool2d_on(&mut exec, &g, &x, &mut got);
                for (e, &v) in got.iter().enumerate() {
                    let (ch, pix) = (e % c, e / c);
                    let (oy, ox) = (pix / 3, pix % 3);
                    let mut want = f32::NEG_INFINITY;
                    let mut nan = false;
                    for iy in (oy * 2).saturating_sub(1)..(oy * 2 + 2).min(5) {
                        for ix in (ox * 2).saturating_sub(1)..(ox * 2 + 2).min(5) {
                            let i = (iy * 5 + ix) * c + ch;
                            nan |= nan_at(i);
                            want = want.max(x[i]);
                        }
                    }
                    if nan {
                        assert!(v.is_nan(), "c {c} {isa:?}: output {e} is {v}, not NaN");
                    } else {
                        assert_eq!(v, want, "c {c} {isa:?}: output {e}");
                    }
                }
            }
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
