//! AArch64 Advanced SIMD (NEON) tile kernel: 6 pixels x 16 filters (one
//! panel), 24 `q`-register accumulators, one broadcast load per pixel and four
//! weight loads per reduction step (the AVX2 kernel's blocking in 128-bit
//! registers; AArch64 has the 32 vector registers it needs).

use super::driver::{blocking, drive, offset_all, Kernel};
use super::{ConvArgs, IsaKernels, Part, PANEL};
use crate::winograd;
use core::arch::aarch64::*;

pub(super) const KERNELS: IsaKernels = IsaKernels {
    conv,
    blocking: |_| blocking(&Tile6x16),
    winograd_input,
    winograd_products,
};

/// # Safety
/// NEON (every AArch64 target Rust ships); [`drive`]'s preconditions.
#[target_feature(enable = "neon")]
unsafe fn conv(a: &ConvArgs<'_>, part: Part) {
    // SAFETY: this function's contract.
    unsafe { drive(Tile6x16, a, part) }
}

/// 6 pixels x one panel of 16 filters: 24 `q` accumulators.
struct Tile6x16;

impl Kernel<6, 16, 16, 12288> for Tile6x16 {
    const KC: usize = 512;

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
            let s = offset_all(s, c_off);
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
}

/// The Winograd input transform, compiled for this ISA.
///
/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
unsafe fn winograd_input(job: &winograd::Job<'_>, tiles: (usize, usize)) {
    winograd::input_part(job, tiles)
}

/// The Winograd products and output transform on the 6 x 16 tile.
///
/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
unsafe fn winograd_products(job: &winograd::Job<'_>, part: winograd::Part) {
    // SAFETY: the CPU supports this ISA (this function's contract).
    unsafe { winograd::products_part(Tile6x16, job, part) }
}
