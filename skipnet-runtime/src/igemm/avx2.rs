//! AVX2 + FMA tile kernels: 6 pixels x 16 filters (one panel), 12 `ymm`
//! accumulators; and 12 pixels x 8 filters for layers with at most 8 filters
//! per group (an RGB head, a depthwise conv), where half a panel is padding.

use super::driver::{blocking, drive, offset_all, Kernel};
use super::{ConvArgs, IsaKernels, Part, PANEL};
use crate::winograd;
use core::arch::x86_64::*;

pub(super) const KERNELS: IsaKernels = IsaKernels {
    conv,
    blocking: |g| {
        if g.output.c / g.groups <= 8 {
            blocking(&Narrow)
        } else {
            blocking(&Tile6x16)
        }
    },
    winograd_input,
    winograd_products,
};

/// # Safety
/// The CPU must support AVX2 and FMA; [`drive`]'s preconditions.
#[target_feature(enable = "avx2,fma")]
unsafe fn conv(a: &ConvArgs<'_>, part: Part) {
    // SAFETY: this function's contract.
    unsafe {
        if a.g.output.c / a.g.groups <= 8 {
            drive(Narrow, a, part)
        } else {
            drive(Tile6x16, a, part)
        }
    }
}

/// 12 pixels x the first 8 filters of a panel (the rest is padding when a
/// group has at most 8 filters): one `ymm` accumulator per pixel.
pub(super) struct Narrow;

impl Kernel<12, 8, 8, 12288> for Narrow {
    const KC: usize = 512;

    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn tile(
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
            let s = offset_all(s, c_off);
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
}

/// 6 pixels x one panel of 16 filters: 12 `ymm` accumulators.
struct Tile6x16;

impl Kernel<6, 16, 16, 12288> for Tile6x16 {
    const KC: usize = 512;

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
            let s = offset_all(s, c_off);
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
}

/// The Winograd input transform, compiled for this ISA.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
unsafe fn winograd_input(job: &winograd::Job<'_>, tiles: (usize, usize)) {
    winograd::input_part(job, tiles)
}

/// The Winograd products and output transform on the 6 x 16 tile.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
unsafe fn winograd_products(job: &winograd::Job<'_>, part: winograd::Part) {
    // SAFETY: the CPU supports this ISA (this function's contract).
    unsafe { winograd::products_part(Tile6x16, job, part) }
}
