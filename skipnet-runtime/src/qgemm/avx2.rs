//! The int8 tile on x86-64 with AVX2: the same packed kernel, im2col block
//! and integers as the portable tile (so the same output bit for bit), four
//! steps of four `k` per loop.
//!
//! A step's im2col words for the block's three pixels are three 64-bit
//! lanes of 16-bit `(x0, x2, x1, x3)` (the fourth lane masked to zero);
//! each filter's four weights are reordered to `(w0, w2, w1, w3)`, widened
//! to 16 bits and broadcast to the four lanes, so one `vpmaddwd` gives
//! each pixel's `x0 w0 + x2 w2` and `x1 w1 + x3 w3` for one filter. The
//! products of int8 weights and 9-bit `x - zero point` values and their
//! pair sums fit 32 bits, and `vpaddd` wraps as the portable
//! `wrapping_add` does: the sums are exactly the portable tile's.

use super::{TileKernel, PIXELS};
use core::arch::x86_64::*;

/// The AVX2 tile (the one-pixel tile and the requantization: the trait's portable defaults).
pub struct Avx2;

impl TileKernel for Avx2 {
    #[inline(always)]
    unsafe fn tile(acc: &mut [i32; 2 * PIXELS], a: *const u32, w: *const i32, quads: usize) {
        // SAFETY: the caller's contract (lengths, alignment, `quads` a
        // positive multiple of 4); `packed_conv` runs this kernel only
        // where AVX2 is available (`Isa::Avx2Fma` or `Isa::Avx512` and
        // `isa.available()`).
        unsafe { tile_3x2(acc, a, w, quads) }
    }
}

/// Adds the block's 3 pixels x 2 filters sums to `acc` (pixel-major).
///
/// # Safety
/// AVX2 is available; `a` holds `quads * PIXELS * 2` words and `w`
/// `quads * 2`; `quads` is a positive multiple of 4.
#[target_feature(enable = "avx2")]
unsafe fn tile_3x2(acc: &mut [i32; 2 * PIXELS], a: *const u32, w: *const i32, quads: usize) {
    // The step's six words (three pixels), not the next step's first two.
    let pixels = _mm256_setr_epi32(-1, -1, -1, -1, -1, -1, 0, 0);
    // Within each filter's 4 bytes: (w0, w1, w2, w3) -> (w0, w2, w1, w3).
    let order = _mm256_setr_epi8(
        0, 2, 1, 3, 4, 6, 5, 7, 8, 10, 9, 11, 12, 14, 13, 15, //
        0, 2, 1, 3, 4, 6, 5, 7, 8, 10, 9, 11, 12, 14, 13, 15,
    );
    let (mut fa, mut fb) = (_mm256_setzero_si256(), _mm256_setzero_si256());
    let mut q = 0;
    while q < quads {
        // SAFETY: steps `q..q + 4` are inside `a` and `w` (`q + 4 <=
        // quads`, the caller's multiple of 4); the masked load reads the
        // step's six words only.
        unsafe {
            // Four steps of weights: [a0 b0 a1 b1 | a2 b2 a3 b3], 4 bytes each.
            let wq = _mm256_shuffle_epi8(_mm256_loadu_si256(w.add(2 * q).cast()), order);
            // 16-bit, one 64-bit lane per (step, filter): [a0 b0 a1 b1], [a2 b2 a3 b3].
            let w01 = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(wq));
            let w23 = _mm256_cvtepi8_epi16(_mm256_extracti128_si256::<1>(wq));
            let x = |s: usize| _mm256_maskload_epi32(a.add((q + s) * PIXELS * 2).cast(), pixels);
            let (x0, x1, x2, x3) = (x(0), x(1), x(2), x(3));
            fa = _mm256_add_epi32(
                fa,
                _mm256_madd_epi16(x0, _mm256_permute4x64_epi64::<0x00>(w01)),
            );
            fb = _mm256_add_epi32(
                fb,
                _mm256_madd_epi16(x0, _mm256_permute4x64_epi64::<0x55>(w01)),
            );
            fa = _mm256_add_epi32(
                fa,
                _mm256_madd_epi16(x1, _mm256_permute4x64_epi64::<0xaa>(w01)),
            );
            fb = _mm256_add_epi32(
                fb,
                _mm256_madd_epi16(x1, _mm256_permute4x64_epi64::<0xff>(w01)),
            );
            fa = _mm256_add_epi32(
                fa,
                _mm256_madd_epi16(x2, _mm256_permute4x64_epi64::<0x00>(w23)),
            );
            fb = _mm256_add_epi32(
                fb,
                _mm256_madd_epi16(x2, _mm256_permute4x64_epi64::<0x55>(w23)),
            );
            fa = _mm256_add_epi32(
                fa,
                _mm256_madd_epi16(x3, _mm256_permute4x64_epi64::<0xaa>(w23)),
            );
            fb = _mm256_add_epi32(
                fb,
                _mm256_madd_epi16(x3, _mm256_permute4x64_epi64::<0xff>(w23)),
            );
        }
        q += 4;
    }
    // Per 128-bit half: [a p0, a p1, b p0, b p1 | a p2, -, b p2, -].
    let sums = _mm256_hadd_epi32(fa, fb);
    let mut s = [0i32; 8];
    // SAFETY: `s` holds 8 i32.
    unsafe { _mm256_storeu_si256(s.as_mut_ptr().cast(), sums) };
    for (k, i) in [0, 2, 1, 3, 4, 6].into_iter().enumerate() {
        acc[k] = acc[k].wrapping_add(s[i]);
    }
}
