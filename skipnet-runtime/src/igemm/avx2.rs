//! AVX2 + FMA tile kernels: 6 pixels x 16 filters (one panel), 12 `ymm`
//! accumulators; and 12 pixels x 8 filters for layers with at most 8 filters
//! per group (an RGB head, a depthwise conv), where half a panel is padding.

use super::{driver, OutLayout, OutPtr, Part, PANEL};
use crate::ops::conv2d::Conv2dGeom;
use core::arch::x86_64::*;

/// # Safety
/// The CPU must support AVX2 and FMA; preconditions of [`super::driver`].
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn conv(
    g: &Conv2dGeom,
    x: &[f32],
    packed: &[f32],
    bias: Option<&[f32]>,
    out: &OutPtr<'_>,
    layout: OutLayout<'_>,
    part: Part,
) {
    if g.output.c / g.groups <= 8 {
        driver!(
            g,
            x,
            packed,
            bias,
            out,
            layout,
            part,
            12,
            8,
            tile_narrow,
            8,
            512,
            12288
        )
    } else {
        driver!(g, x, packed, bias, out, layout, part, 6, 16, tile, 16, 512, 12288)
    }
}

/// 12 pixels x the first 8 filters of a panel (the rest is padding when a
/// group has at most 8 filters): one `ymm` accumulator per pixel.
///
/// # Safety
/// As [`tile`].
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn tile_narrow(
    srcs: &[[*const f32; 12]],
    c_off: usize,
    cin: usize,
    b: *const f32,
    tap_stride: usize,
    _panel_stride: usize,
    out: &mut [[f32; 8]; 12],
) {
    let mut acc = [_mm256_setzero_ps(); 12];
    for (a, o) in acc.iter_mut().zip(out.iter()) {
        // SAFETY: each row holds 8 floats: one load.
        *a = unsafe { _mm256_loadu_ps(o.as_ptr()) };
    }
    for (ti, s) in srcs.iter().enumerate() {
        // SAFETY: tap `ti`'s rows start `ti * tap_stride` floats into the panel.
        let mut bp = unsafe { b.add(ti * tap_stride) };
        let s = s.map(|p| p.wrapping_add(c_off));
        for ci in 0..cin {
            // SAFETY: `bp` stays within the panel's `srcs.len() * cin` rows
            // (8 of each row's 16 floats are read); each `s[m]` is valid for
            // `cin` reads.
            unsafe {
                let b0 = _mm256_loadu_ps(bp);
                bp = bp.add(PANEL);
                for m in 0..12 {
                    let a = _mm256_set1_ps(*s[m].add(ci));
                    acc[m] = _mm256_fmadd_ps(a, b0, acc[m]);
                }
            }
        }
    }
    for (o, a) in out.iter_mut().zip(&acc) {
        // SAFETY: each output row holds 8 floats: one store.
        unsafe { _mm256_storeu_ps(o.as_mut_ptr(), *a) };
    }
}

/// # Safety
/// AVX2 and FMA; each `srcs` pointer valid for `c_off + cin` reads (from `c_off` on); `b` valid for
/// `srcs.len() * cin * PANEL` reads.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn tile(
    srcs: &[[*const f32; 6]],
    c_off: usize,
    cin: usize,
    b: *const f32,
    tap_stride: usize,
    _panel_stride: usize,
    out: &mut [[f32; 16]; 6],
) {
    let mut acc = [[_mm256_setzero_ps(); 2]; 6];
    for (a, o) in acc.iter_mut().zip(out.iter()) {
        // SAFETY: each row holds 16 floats: two 8-float loads.
        *a = unsafe {
            [
                _mm256_loadu_ps(o.as_ptr()),
                _mm256_loadu_ps(o.as_ptr().add(8)),
            ]
        };
    }
    for (ti, s) in srcs.iter().enumerate() {
        // SAFETY: tap `ti`'s rows start `ti * tap_stride` floats into the panel.
        let mut bp = unsafe { b.add(ti * tap_stride) };
        let s = s.map(|p| p.wrapping_add(c_off));
        for ci in 0..cin {
            // SAFETY: `bp` stays within the panel's `srcs.len() * cin` rows;
            // each `s[m]` (already offset by `c_off`) is valid for `cin` reads.
            unsafe {
                let b0 = _mm256_loadu_ps(bp);
                let b1 = _mm256_loadu_ps(bp.add(8));
                bp = bp.add(PANEL);
                for m in 0..6 {
                    let a = _mm256_set1_ps(*s[m].add(ci));
                    acc[m][0] = _mm256_fmadd_ps(a, b0, acc[m][0]);
                    acc[m][1] = _mm256_fmadd_ps(a, b1, acc[m][1]);
                }
            }
        }
    }
    for (o, a) in out.iter_mut().zip(&acc) {
        // SAFETY: each output row holds 16 floats: two 8-float stores.
        unsafe {
            _mm256_storeu_ps(o.as_mut_ptr(), a[0]);
            _mm256_storeu_ps(o.as_mut_ptr().add(8), a[1]);
        }
    }
}

/// The Winograd input transform, compiled for this ISA.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn winograd_input(job: &crate::winograd::Job<'_>, tiles: (usize, usize)) {
    crate::winograd::input_part(job, tiles)
}

/// The Winograd products and output transform on this ISA's 6 x 16 tile.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn winograd_products(
    job: &crate::winograd::Job<'_>,
    part: crate::winograd::Part,
) {
    // SAFETY: the CPU supports this ISA (this function's contract), and
    // `products_part` passes `tile` the pointers its contract asks for.
    unsafe {
        crate::winograd::products_part::<6, 16>(job, part, |s, c, n, b, ts, ps, acc| {
            tile(s, c, n, b, ts, ps, acc)
        })
    }
}
