//! The int8 byte tile on x86-64 with AVX-512 VNNI (see `bytes.rs` for the
//! layout): `vpdpbusd` adds four products of unsigned by signed bytes to
//! each of sixteen 32-bit sums, so one instruction does 64 multiply-adds.
//! 64 bytes of a pixel's column are eight steps of it, each twice, and 64
//! bytes of a pair's stream the same eight steps of its two filters: one
//! `vpdpbusd` per pixel and pair per eight steps, 3 pixels x 8 pairs (24
//! `zmm` sums). A sum's even lanes add up to the pair's first filter's dot
//! product, its odd lanes to the second's ([`pair_sums`]).
//!
//! Used for `Isa::Avx512` where the CPU has `avx512vnni` ([`available`]).

use super::bytes::{self, ByteTile, Sums};
use super::{ConvIo, PIXELS};
use crate::geom::Conv2dGeom;
use crate::quant::Requantize;
use core::arch::x86_64::*;

/// Whether this CPU has AVX-512 VNNI, with the AVX-512 F the tile uses and
/// the BW and VL that every VNNI CPU has (the conv is compiled with them:
/// the shared AVX2 code then has 32 vector registers).
pub fn available() -> bool {
    #[cfg(feature = "std")]
    {
        std::is_x86_feature_detected!("avx512vnni")
            && std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512vl")
    }
    #[cfg(not(feature = "std"))]
    {
        cfg!(all(
            target_feature = "avx512vnni",
            target_feature = "avx512f",
            target_feature = "avx512bw",
            target_feature = "avx512vl"
        ))
    }
}

/// The VNNI tile.
pub struct Vnni;

impl ByteTile for Vnni {
    type Isa = super::avx2::X86Bytes;
    const PAIRS: usize = 8;

    #[inline(always)]
    unsafe fn tile(sums: &mut Sums, block: *const u32, w: *const i32, pairs: usize, quads: usize) {
        // SAFETY: the caller's contract (`conv`'s: the CPU has the features).
        unsafe { tile(sums, block, w, pairs, quads) }
    }
}

/// The packed conv on the VNNI tile (`bytes::conv`).
///
/// # Safety
/// The CPU has what [`available`] checks (and so AVX2); the arguments as
/// `bytes::conv`'s.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f,avx512vnni,avx512bw,avx512vl,avx2")]
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
    unsafe { bytes::conv::<Vnni>(g, io, packed, requantize, input_zero_point, layout, block) }
}

/// [`ByteTile::tile`] for 1 to 8 pairs.
///
/// # Safety
/// As [`ByteTile::tile`]'s, on a CPU with what [`available`] checks.
#[target_feature(enable = "avx512f,avx512vnni,avx512bw,avx512vl,avx2")]
unsafe fn tile(sums: &mut Sums, block: *const u32, w: *const i32, pairs: usize, quads: usize) {
    match pairs {
        // SAFETY: the caller's contract, for each count.
        8 => unsafe { tile_n::<8>(sums, block, w, quads) },
        7 => unsafe { tile_n::<7>(sums, block, w, quads) },
        6 => unsafe { tile_n::<6>(sums, block, w, quads) },
        5 => unsafe { tile_n::<5>(sums, block, w, quads) },
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
#[target_feature(enable = "avx512f,avx512vnni,avx512bw,avx512vl,avx2")]
#[inline]
#[allow(clippy::needless_range_loop)] // `acc[p][i]`: both indices are loops'
unsafe fn tile_n<const P: usize>(sums: &mut Sums, block: *const u32, w: *const i32, quads: usize) {
    let mut acc = [[_mm512_setzero_si512(); P]; PIXELS];
    let stream = 2 * quads;
    let mut q = 0;
    // Eight steps (64 bytes of each stream) per round; a last four with
    // half-masked loads (a masked-off lane is not read).
    while q < quads {
        let mask: __mmask16 = if quads - q >= 8 { 0xffff } else { 0x00ff };
        // SAFETY: words `2 q..2 q + 16` (or `+ 8`, masked) of every stream
        // are inside it (`q + 8 <= quads`, or `q + 4 == quads` for the last
        // four: `quads` is a multiple of 4).
        unsafe {
            let x: [__m512i; PIXELS] = core::array::from_fn(|p| {
                _mm512_maskz_loadu_epi32(mask, block.add(p * stream + 2 * q).cast())
            });
            for i in 0..P {
                let wv = _mm512_maskz_loadu_epi32(mask, w.add(i * stream + 2 * q).cast());
                for p in 0..PIXELS {
                    acc[p][i] = _mm512_dpbusd_epi32(acc[p][i], x[p], wv);
                }
            }
        }
        q += 8;
    }
    for (s, row) in sums.iter_mut().zip(&acc) {
        let all = core::array::from_fn(|i| row.get(i).copied().unwrap_or(_mm512_setzero_si512()));
        // SAFETY: `s` is sixteen i32.
        unsafe { _mm512_storeu_si512(s.as_mut_ptr().cast(), pair_sums(all)) };
    }
}

/// Eight pairs' sums to the sixteen filters' dot products, in filter
/// order: the even lanes of `a[i]` add up to filter `2 i`'s, the odd ones
/// to `2 i + 1`'s. A tree of 64-bit interleaves and 128-bit lane shuffles
/// (21 instructions, against 56 one sum at a time).
#[target_feature(enable = "avx512f,avx512vnni,avx512bw,avx512vl,avx2")]
#[inline]
fn pair_sums(a: [__m512i; 8]) -> __m512i {
    // Per 128-bit lane `l`: (pair 2 j's partial sums of lane l, pair 2 j + 1's).
    let t: [__m512i; 4] = core::array::from_fn(|j| {
        let (x, y) = (a[2 * j], a[2 * j + 1]);
        _mm512_add_epi32(_mm512_unpacklo_epi64(x, y), _mm512_unpackhi_epi64(x, y))
    });
    // Lanes 0 + 1 and 2 + 3 of `x`, then of `y`.
    let fold = |x: __m512i, y: __m512i| {
        _mm512_add_epi32(
            _mm512_shuffle_i64x2::<0b10_00_10_00>(x, y),
            _mm512_shuffle_i64x2::<0b11_01_11_01>(x, y),
        )
    };
    // Lane l of `fold(fold(t0, t1), fold(t2, t3))` is `t[l]`'s four lanes summed.
    fold(fold(t[0], t[1]), fold(t[2], t[3]))
}
