//! The int8 byte tile on AArch64 with the dot product extension (see
//! `bytes.rs` for the layout): `sdot` adds four products of signed bytes
//! to each of four 32-bit sums, 16 multiply-adds per instruction. 16
//! bytes of a pixel's column are two steps of it, each twice, and 16 bytes
//! of a pair's stream the same two steps of its two filters: one `sdot`
//! per pixel and pair per two steps, 3 pixels x 4 pairs (twelve sums,
//! three columns and four streams: 19 of the 32 vector registers). A
//! sum's lanes 0 and 2 add up to the pair's first filter's dot product,
//! 1 and 3 to its second's.
//!
//! The input bytes are signed as the weights are, so the columns hold `x`
//! itself ([`ByteIsa::OFFSET`] 0) and the weight sums times `zp` are
//! subtracted. Used for `Isa::Neon` where the CPU has `dotprod`
//! ([`available`]); the `smlal` tile (`neon.rs`) runs elsewhere.
//!
//! `sdot` is written as inline assembly: Rust's `vdotq_s32` is not stable.

use super::bytes::{self, ByteIsa, ByteTile, Sums};
use super::{ConvIo, PIXELS};
use crate::geom::Conv2dGeom;
use crate::quant::Requantize;
use core::arch::aarch64::*;

/// Whether this CPU has the dot product instructions.
pub fn available() -> bool {
    #[cfg(feature = "std")]
    {
        std::arch::is_aarch64_feature_detected!("dotprod")
    }
    #[cfg(not(feature = "std"))]
    {
        cfg!(target_feature = "dotprod")
    }
}

/// The `sdot` tile.
pub struct Sdot;

impl ByteTile for Sdot {
    type Isa = NeonBytes;
    const PAIRS: usize = 4;

    #[inline(always)]
    unsafe fn tile(sums: &mut Sums, block: *const u32, w: *const i32, pairs: usize, quads: usize) {
        // SAFETY: the caller's contract (`conv`'s: the CPU has `dotprod`).
        unsafe { tile(sums, block, w, pairs, quads) }
    }
}

/// The byte conv's routines with Advanced SIMD: columns of `x` itself,
/// the weight sums by pairwise widening adds, the portable requantization.
pub struct NeonBytes;

impl ByteIsa for NeonBytes {
    const OFFSET: i32 = 0;

    #[inline(always)]
    unsafe fn widen_fast(dst: *mut u32, src: *const i8, quads: usize) -> usize {
        let mut q = 0;
        while q + 4 <= quads {
            // SAFETY: steps `q..q + 4` are the caller's: 16 bytes read at
            // `src`, 32 written at `dst`; Advanced SIMD is part of the target.
            unsafe {
                let v = vreinterpretq_u32_s8(vld1q_s8(src.add(4 * q)));
                vst1q_u32(dst.add(2 * q), vzip1q_u32(v, v));
                vst1q_u32(dst.add(2 * q + 4), vzip2q_u32(v, v));
            }
            q += 4;
        }
        q
    }

    #[inline(always)]
    unsafe fn weight_sums(w: &[i32]) -> [i32; 2] {
        // Four steps' bytes added in pairs, twice: lanes (a, b, a, b).
        // SAFETY: Advanced SIMD is part of the target.
        let mut acc = unsafe { vdupq_n_s32(0) };
        let mut steps = w.chunks_exact(4);
        for four in &mut steps {
            // SAFETY: `four` is 16 readable bytes.
            acc = unsafe { vpadalq_s16(acc, vpaddlq_s8(vld1q_s8(four.as_ptr().cast()))) };
        }
        // SAFETY: as above.
        let (a, b) = unsafe { (vgetq_lane_s32::<0>(acc), vgetq_lane_s32::<1>(acc)) };
        // SAFETY: as above.
        let (c, d) = unsafe { (vgetq_lane_s32::<2>(acc), vgetq_lane_s32::<3>(acc)) };
        // A stream is a multiple of 8 words (`quads` of 4): no rest, but
        // summed if there were (the portable sums).
        let [ra, rb] = bytes::portable_weight_sums(steps.remainder());
        [
            a.wrapping_add(c).wrapping_add(ra),
            b.wrapping_add(d).wrapping_add(rb),
        ]
    }
}

/// The packed conv on the `sdot` tile (`bytes::conv`).
///
/// # Safety
/// The CPU has `dotprod` ([`available`]); the arguments as
/// `bytes::conv`'s.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "dotprod")]
pub(super) unsafe fn conv(
    g: &Conv2dGeom,
    io: impl ConvIo,
    packed: &[i32],
    requantize: &[Requantize],
    input_zero_point: i32,
    layout: (usize, usize),
    block: &mut [u32],
) {
    // SAFETY: the caller's contract.
    unsafe { bytes::conv::<Sdot>(g, io, packed, requantize, input_zero_point, layout, block) }
}

/// [`ByteTile::tile`] for 1 to 4 pairs.
///
/// # Safety
/// As [`ByteTile::tile`]'s, on a CPU with `dotprod`.
#[target_feature(enable = "dotprod")]
unsafe fn tile(sums: &mut Sums, block: *const u32, w: *const i32, pairs: usize, quads: usize) {
    match pairs {
        // SAFETY: the caller's contract, for each count.
        4 => unsafe { tile_n::<4>(sums, block, w, quads) },
        3 => unsafe { tile_n::<3>(sums, block, w, quads) },
        2 => unsafe { tile_n::<2>(sums, block, w, quads) },
        _ => unsafe { tile_n::<1>(sums, block, w, quads) },
    }
}

/// `acc + ` the four-byte dot products of `x` and `w`, lane by lane.
///
/// # Safety
/// The CPU has `dotprod`.
#[inline(always)]
unsafe fn sdot(acc: int32x4_t, x: int8x16_t, w: int8x16_t) -> int32x4_t {
    let mut acc = acc;
    // SAFETY: the caller's CPU has `dotprod`; registers only.
    unsafe {
        core::arch::asm!(
            "sdot {acc:v}.4s, {x:v}.16b, {w:v}.16b",
            acc = inout(vreg) acc,
            x = in(vreg) x,
            w = in(vreg) w,
            options(pure, nomem, nostack, preserves_flags)
        )
    };
    acc
}

/// [`tile`] for `P` pairs.
///
/// # Safety
/// As [`tile`]'s, with `pairs == P`.
#[target_feature(enable = "dotprod")]
#[inline]
#[allow(clippy::needless_range_loop)] // `acc[p][i]`: both indices are loops'
unsafe fn tile_n<const P: usize>(sums: &mut Sums, block: *const u32, w: *const i32, quads: usize) {
    let mut acc = [[vdupq_n_s32(0); P]; PIXELS];
    let stream = 2 * quads;
    let mut q = 0;
    // Two steps (16 bytes of each stream) per round.
    while q < quads {
        // SAFETY: words `2 q..2 q + 4` of every stream are inside it (`q +
        // 2 <= quads`: `quads` is a multiple of 4); `dotprod` (the caller's).
        unsafe {
            let x: [int8x16_t; PIXELS] =
                core::array::from_fn(|p| vld1q_s8(block.add(p * stream + 2 * q).cast()));
            for i in 0..P {
                let wv = vld1q_s8(w.add(i * stream + 2 * q).cast());
                for p in 0..PIXELS {
                    acc[p][i] = sdot(acc[p][i], x[p], wv);
                }
            }
        }
        q += 2;
    }
    for (s, row) in sums.iter_mut().zip(&acc) {
        for (i, &a) in row.iter().enumerate() {
            // Lanes (a, b, a, b): the halves added are the pair's two sums.
            let two = vadd_s32(vget_low_s32(a), vget_high_s32(a));
            // SAFETY: `2 i + 2 <= 2 P <= 8 <= 16` i32 of `s`.
            unsafe { vst1_s32(s.as_mut_ptr().add(2 * i), two) };
        }
    }
}
