//! AArch64 Advanced SIMD (NEON) tile kernel: 6 pixels x 16 filters (one
//! panel), 24 `q`-register accumulators, one broadcast load per pixel and four
//! weight loads per reduction step (the AVX2 kernel's blocking in 128-bit
//! registers; AArch64 has the 32 vector registers it needs).

use super::{driver, OutLayout, OutPtr, Part, PANEL};
use crate::ops::conv2d::Conv2dGeom;
use core::arch::aarch64::*;

/// # Safety
/// NEON (every AArch64 target Rust ships); preconditions of [`super::driver`].
#[target_feature(enable = "neon")]
pub(super) unsafe fn conv(
    g: &Conv2dGeom,
    x: &[f32],
    packed: &[f32],
    bias: Option<&[f32]>,
    out: &OutPtr<'_>,
    layout: OutLayout<'_>,
    part: Part,
) {
    driver!(g, x, packed, bias, out, layout, part, 6, 16, tile, 16, 512, 12288)
}

/// # Safety
/// NEON; each `srcs` pointer valid for `c_off + cin` reads (from `c_off` on);
/// `b + t * tap_stride` valid for `cin * PANEL` reads for every tap `t`.
#[target_feature(enable = "neon")]
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
    let mut acc = [[vdupq_n_f32(0.0); 4]; 6];
    for (a, o) in acc.iter_mut().zip(out.iter()) {
        for (q, v) in a.iter_mut().enumerate() {
            // SAFETY: each output row holds 16 floats: four 4-float loads.
            *v = unsafe { vld1q_f32(o.as_ptr().add(4 * q)) };
        }
    }
    for (ti, s) in srcs.iter().enumerate() {
        // SAFETY: tap `ti`'s rows start `ti * tap_stride` floats into the panel.
        let mut bp = unsafe { b.add(ti * tap_stride) };
        let s = s.map(|p| p.wrapping_add(c_off));
        for ci in 0..cin {
            // SAFETY: `bp` stays within the panel's `srcs.len() * cin` rows;
            // each `s[m]` (already offset by `c_off`) is valid for `cin` reads.
            unsafe {
                let w = [
                    vld1q_f32(bp),
                    vld1q_f32(bp.add(4)),
                    vld1q_f32(bp.add(8)),
                    vld1q_f32(bp.add(12)),
                ];
                bp = bp.add(PANEL);
                for m in 0..6 {
                    let a = vld1q_dup_f32(s[m].add(ci));
                    for q in 0..4 {
                        acc[m][q] = vfmaq_f32(acc[m][q], a, w[q]);
                    }
                }
            }
        }
    }
    for (o, a) in out.iter_mut().zip(&acc) {
        for (q, v) in a.iter().enumerate() {
            // SAFETY: each output row holds 16 floats: four 4-float stores.
            unsafe { vst1q_f32(o.as_mut_ptr().add(4 * q), *v) };
        }
    }
}

/// The Winograd input transform, compiled for this ISA.
///
/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
pub(super) unsafe fn winograd_input(job: &crate::winograd::Job<'_>, tiles: (usize, usize)) {
    crate::winograd::input_part(job, tiles)
}

/// The Winograd products and output transform on this ISA's 6 x 16 tile.
///
/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
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
