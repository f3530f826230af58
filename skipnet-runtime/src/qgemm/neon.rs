//! The int8 tile on AArch64 with Advanced SIMD: the same packed kernel,
//! im2col block and integers as the portable tile (so the same output bit
//! for bit), four steps of four `k` per loop.
//!
//! A step's im2col words for one pixel are a 64-bit vector of 16-bit
//! `(x0, x2, x1, x3)`; each filter's four weights are reordered to
//! `(w0, w2, w1, w3)` (`tbl`) and widened to 16 bits, so one `smlal`
//! adds the four products to that pixel's and filter's four 32-bit lanes
//! (six accumulators: 3 pixels x 2 filters). The lanes are added at the
//! end; every sum wraps as the portable `wrapping_add` does, so the result
//! is exactly the portable tile's. Where the CPU has `sdot`, the byte
//! conv (`sdot.rs`) runs instead.

use super::{TileKernel, PIXELS};
use core::arch::aarch64::*;

/// The Advanced SIMD tile (the one-pixel tile and the requantization: the trait's portable defaults).
pub struct Neon;

impl TileKernel for Neon {
    #[inline(always)]
    unsafe fn tile(acc: &mut [i32; 2 * PIXELS], a: *const u32, w: *const i32, quads: usize) {
        // SAFETY: the caller's contract (lengths, alignment, `quads` a
        // positive multiple of 4); Advanced SIMD is part of the target.
        unsafe { tile_3x2(acc, a, w, quads) }
    }
}

/// Within each filter's 4 bytes: (w0, w1, w2, w3) -> (w0, w2, w1, w3).
static ORDER: [u8; 16] = [0, 2, 1, 3, 4, 6, 5, 7, 8, 10, 9, 11, 12, 14, 13, 15];

/// Adds the block's 3 pixels x 2 filters sums to `acc` (pixel-major).
///
/// # Safety
/// `a` holds `quads * PIXELS * 2` words and `w` `quads * 2`, both
/// word-aligned; `quads` is a positive multiple of 4.
#[inline(always)]
unsafe fn tile_3x2(acc: &mut [i32; 2 * PIXELS], a: *const u32, w: *const i32, quads: usize) {
    // SAFETY: `ORDER` holds 16 bytes; Advanced SIMD is part of the target
    // (this module is built only with `target_feature = "neon"`).
    let (order, mut sums) = unsafe { (vld1q_u8(ORDER.as_ptr()), [vdupq_n_s32(0); 2 * PIXELS]) };
    let mut q = 0;
    while q < quads {
        // SAFETY: steps `q..q + 4` are inside `a` and `w` (`q + 4 <=
        // quads`, the caller's multiple of 4): 8 weight words, and each
        // step's 6 im2col words (three pixels of 4 halves).
        unsafe {
            // Four steps of weights: [a0 b0 a1 b1], [a2 b2 a3 b3], 4 bytes each.
            let w01 = vqtbl1q_s8(vld1q_s8(w.add(2 * q).cast()), order);
            let w23 = vqtbl1q_s8(vld1q_s8(w.add(2 * q + 4).cast()), order);
            // 16-bit, one step's two filters per vector.
            let steps = [
                vmovl_s8(vget_low_s8(w01)),
                vmovl_high_s8(w01),
                vmovl_s8(vget_low_s8(w23)),
                vmovl_high_s8(w23),
            ];
            for (s, ws) in steps.into_iter().enumerate() {
                let (wa, wb) = (vget_low_s16(ws), vget_high_s16(ws));
                let x = a.add((q + s) * PIXELS * 2).cast::<i16>();
                for p in 0..PIXELS {
                    let xp = vld1_s16(x.add(4 * p));
                    sums[2 * p] = vmlal_s16(sums[2 * p], xp, wa);
                    sums[2 * p + 1] = vmlal_s16(sums[2 * p + 1], xp, wb);
                }
            }
        }
        q += 4;
    }
    for (acc, s) in acc.iter_mut().zip(sums) {
        // SAFETY: Advanced SIMD is part of the target (above).
        *acc = acc.wrapping_add(unsafe { vaddvq_s32(s) });
    }
}
