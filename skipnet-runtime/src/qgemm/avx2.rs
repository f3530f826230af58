//! The int8 byte tile on x86-64 with AVX2 (see `bytes.rs` for the layout):
//! 16 bytes of a pixel's column (two steps, each twice) and 16 bytes of a
//! pair's stream (the same two steps of its two filters) are widened to 16
//! bits (`vpmovzxbw`, `vpmovsxbw`) and multiplied by one `vpmaddwd`: 16
//! multiply-adds into eight 32-bit lanes, lanes 0, 1, 4, 5 the pair's first
//! filter's, 2, 3, 6, 7 its second's. `x + 128 <= 255` by `|w| <= 128`
//! and their pair sums fit 16 by 16 bit products exactly (`vpmaddubsw`
//! would saturate them at 32767: not TFLite's integers). 3 pixels x 4
//! pairs per tile: twelve `ymm` sums, three columns and one stream
//! register, the sixteen AVX2 has.

use super::bytes::{self, ByteTile, Sums};
use super::{ConvIo, PIXELS};
use crate::geom::Conv2dGeom;
use crate::quant::Requantize;
use core::arch::x86_64::*;

/// The AVX2 byte tile.
pub struct Avx2;

impl ByteTile for Avx2 {
    const PAIRS: usize = 4;

    #[inline(always)]
    unsafe fn tile(sums: &mut Sums, block: *const u32, w: *const i32, pairs: usize, quads: usize) {
        // SAFETY: the caller's contract (`conv`'s: the CPU has AVX2).
        unsafe { tile(sums, block, w, pairs, quads) }
    }
}

/// The packed conv on the AVX2 tile (`bytes::conv`).
///
/// # Safety
/// The CPU has AVX2; the arguments as `bytes::conv`'s.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx2")]
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
    unsafe { bytes::conv::<Avx2>(g, io, packed, requantize, input_zero_point, layout, block) }
}

/// [`ByteTile::tile`] for 1 to 4 pairs.
///
/// # Safety
/// As [`ByteTile::tile`]'s, on a CPU with AVX2.
#[target_feature(enable = "avx2")]
unsafe fn tile(sums: &mut Sums, block: *const u32, w: *const i32, pairs: usize, quads: usize) {
    match pairs {
        // SAFETY: the caller's contract, for each count.
        4 => unsafe { tile_n::<4>(sums, block, w, quads) },
        3 => unsafe { tile_n::<3>(sums, block, w, quads) },
        2 => unsafe { tile_n::<2>(sums, block, w, quads) },
        _ => unsafe { tile_n::<1>(sums, block, w, quads) },
    }
}

/// [`tile`] for `P` pairs.
///
/// # Safety
/// As [`tile`]'s, with `pairs == P`.
#[target_feature(enable = "avx2")]
#[inline]
#[allow(clippy::needless_range_loop)] // `acc[p][i]`: both indices are loops'
unsafe fn tile_n<const P: usize>(sums: &mut Sums, block: *const u32, w: *const i32, quads: usize) {
    let mut acc = [[_mm256_setzero_si256(); P]; PIXELS];
    let stream = 2 * quads;
    let mut q = 0;
    // Two steps (16 bytes of each stream) per round.
    while q < quads {
        // SAFETY: words `2 q..2 q + 4` of every stream are inside it (`q +
        // 2 <= quads`: `quads` is a multiple of 4).
        unsafe {
            let x: [__m256i; PIXELS] = core::array::from_fn(|p| {
                _mm256_cvtepu8_epi16(_mm_loadu_si128(block.add(p * stream + 2 * q).cast()))
            });
            for i in 0..P {
                let wv = _mm256_cvtepi8_epi16(_mm_loadu_si128(w.add(i * stream + 2 * q).cast()));
                for p in 0..PIXELS {
                    acc[p][i] = _mm256_add_epi32(acc[p][i], _mm256_madd_epi16(x[p], wv));
                }
            }
        }
        q += 2;
    }
    for (s, row) in sums.iter_mut().zip(&acc) {
        // Per sum, its halves added: (a, a, b, b); two sums' pairs added
        // by one `vphaddd`: (a_i, b_i, a_j, b_j).
        let halves =
            |a: __m256i| _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256::<1>(a));
        let mut i = 0;
        while i < P {
            let next = if i + 1 < P {
                halves(row[i + 1])
            } else {
                _mm_setzero_si128()
            };
            let four = _mm_hadd_epi32(halves(row[i]), next);
            // SAFETY: `2 i + 4 <= 2 P + 2 <= 10 <= 16` i32 of `s`.
            unsafe { _mm_storeu_si128(s.as_mut_ptr().add(2 * i).cast(), four) };
            i += 2;
        }
    }
}
