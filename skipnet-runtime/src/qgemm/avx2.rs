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

use super::bytes::{self, ByteIsa, ByteTile, Sums};
use super::{ConvIo, PIXELS};
use crate::geom::Conv2dGeom;
use crate::quant::Requantize;
use core::arch::x86_64::*;

/// The AVX2 byte tile.
pub struct Avx2;

impl ByteTile for Avx2 {
    type Isa = X86Bytes;
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

/// The byte conv's routines on x86-64 with AVX2 (the VNNI tile's too):
/// columns of `x + 128` (`vpdpbusd` and `vpmovzxbw` take the input
/// unsigned), the weight sums and the requantization in eight lanes.
pub struct X86Bytes;

impl ByteIsa for X86Bytes {
    const OFFSET: i32 = 128;

    #[inline(always)]
    unsafe fn widen_fast(dst: *mut u32, src: *const i8, quads: usize) -> usize {
        // SAFETY: the caller's contract; its CPU has AVX2 (both tiles').
        unsafe { widen_avx2(dst, src, quads) }
    }

    #[inline(always)]
    unsafe fn weight_sums(w: &[i32]) -> [i32; 2] {
        // SAFETY: the caller's CPU has AVX2 (both tiles').
        unsafe { weight_sums(w) }
    }

    #[inline(always)]
    unsafe fn store_group(
        sums: &Sums,
        first: usize,
        correction: &[i32],
        rq: &[Requantize],
        out: *mut i8,
        stride: usize,
        n: usize,
    ) {
        // SAFETY: the caller's contract; its CPU has AVX2 (both tiles').
        unsafe { store_group(sums, first, correction, rq, out, stride, n) }
    }
}

/// The columns' `x ^ 0x80`, each step twice ([`ByteIsa::widen_fast`]) eight steps (32 inputs) at a time: returns how many
/// steps it wrote (a multiple of 8, the rest is the caller's).
///
/// # Safety
/// As [`ByteIsa::widen_fast`]'s, and the CPU has AVX2.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn widen_avx2(dst: *mut u32, src: *const i8, quads: usize) -> usize {
    let flip = _mm256_set1_epi8(-128);
    // Each step's word twice: words (0, 0, 1, 1, 2, 2, 3, 3), then 4..7.
    let lo = _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3);
    let hi = _mm256_setr_epi32(4, 4, 5, 5, 6, 6, 7, 7);
    let mut q = 0;
    while q + 8 <= quads {
        // SAFETY: steps `q..q + 8` are the caller's: 32 bytes read, 64
        // written.
        unsafe {
            let v = _mm256_xor_si256(_mm256_loadu_si256(src.add(4 * q).cast()), flip);
            _mm256_storeu_si256(dst.add(2 * q).cast(), _mm256_permutevar8x32_epi32(v, lo));
            _mm256_storeu_si256(
                dst.add(2 * q + 8).cast(),
                _mm256_permutevar8x32_epi32(v, hi),
            );
        }
        q += 8;
    }
    q
}

/// One pair's weight sums (filter `a`, filter `b`) over its stream: 16
/// bytes (two steps of both filters) widened and summed in pairs by one
/// `vpmaddwd` by ones, lanes 0, 1, 4, 5 filter `a`'s (as `avx2.rs`'s tile).
/// A plain loop over the bytes cost the int8 seed U-Net 13% of its time
/// with VNNI (`conv3` alone 19%).
///
/// # Safety
/// The CPU has AVX2.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn weight_sums(w: &[i32]) -> [i32; 2] {
    let ones = _mm256_set1_epi16(1);
    let mut acc = _mm256_setzero_si256();
    let mut steps = w.chunks_exact(4);
    for four in &mut steps {
        // SAFETY: `four` is 16 readable bytes.
        let v = unsafe { _mm_loadu_si128(four.as_ptr().cast()) };
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_cvtepi8_epi16(v), ones));
    }
    let h = _mm_add_epi32(
        _mm256_castsi256_si128(acc),
        _mm256_extracti128_si256::<1>(acc),
    );
    let h = _mm_hadd_epi32(h, h);
    // A stream is a multiple of 8 words (`quads` of 4): no rest, but
    // summed if there were.
    let [a, b] = bytes::portable_weight_sums(steps.remainder());
    [
        _mm_cvtsi128_si32(h).wrapping_add(a),
        _mm_extract_epi32::<1>(h).wrapping_add(b),
    ]
}

/// Stores `n` pixels' outputs of eight (or fewer, `rq`) of a group's
/// filters, from `first`: `rq[j]` applied to `sums[p][first + j] -
/// correction[j]` (as
/// [`Requantize::apply`], in eight lanes) at `out + p * stride + j`.
///
/// # Safety
/// The CPU has AVX2; `correction` is as long as `rq`, at most 8; `out + p * stride + j` is writable for `p < n <= PIXELS`, `j <
/// rq.len()`.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn store_group(
    sums: &Sums,
    first: usize,
    correction: &[i32],
    rq: &[Requantize],
    out: *mut i8,
    stride: usize,
    n: usize,
) {
    let nf = rq.len();
    // One filter's fields per row (`Requantize` is `repr(C)`, eight 32-bit
    // fields), transposed to one field per vector.
    let row = |j: usize| {
        // SAFETY: a `Requantize` is 32 readable bytes (its `repr(C)`
        // fields); rows past the group's filters repeat its last.
        unsafe { _mm256_loadu_si256((&rq[j.min(nf - 1)] as *const Requantize).cast()) }
    };
    let [bias, scale_up, multiplier, right, mask, zero_point, lo, hi] = transpose([
        row(0),
        row(1),
        row(2),
        row(3),
        row(4),
        row(5),
        row(6),
        row(7),
    ]);
    let mut c = [0i32; 8];
    c[..nf].copy_from_slice(correction);
    // SAFETY: `c` is eight i32.
    let correction = unsafe { _mm256_loadu_si256(c.as_ptr().cast()) };
    // Byte 0 of each 32-bit lane to the lane's low four bytes, then the
    // two lanes' words together: the eight outputs in the low 8 bytes.
    let bytes = _mm256_setr_epi8(
        0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, //
        0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    );
    let words = _mm256_setr_epi32(0, 4, 1, 1, 1, 1, 1, 1);
    let (round, min) = (_mm256_set1_epi64x(1 << 30), _mm256_set1_epi32(i32::MIN));
    let multiplier_hi = _mm256_srli_epi64::<32>(multiplier);
    let multiplier_is_min = _mm256_cmpeq_epi32(multiplier, min);
    let half_mask = _mm256_srai_epi32::<1>(mask);
    for (p, s) in sums.iter().enumerate().take(n) {
        // SAFETY: eight i32 of `s` from `first`.
        let acc = unsafe { _mm256_loadu_si256(s[first..][..8].as_ptr().cast()) };
        let acc = _mm256_sub_epi32(acc, correction);
        let x = _mm256_add_epi32(_mm256_mullo_epi32(acc, scale_up), bias);
        // `(x m + 2^30) >> 31` in 64 bits, even lanes then odd; the low 32
        // bits of the logical shift are the arithmetic one's.
        let even = _mm256_mul_epi32(x, multiplier);
        let even = _mm256_srli_epi64::<31>(_mm256_add_epi64(even, round));
        let odd = _mm256_mul_epi32(_mm256_srli_epi64::<32>(x), multiplier_hi);
        let odd = _mm256_slli_epi64::<32>(_mm256_srli_epi64::<31>(_mm256_add_epi64(odd, round)));
        let y = _mm256_blend_epi32::<0b1010_1010>(even, odd);
        // `i32::MIN * i32::MIN` saturates.
        let saturated = _mm256_and_si256(multiplier_is_min, _mm256_cmpeq_epi32(x, min));
        let y = _mm256_blendv_epi8(y, _mm256_set1_epi32(i32::MAX), saturated);
        // The rounding shift: `threshold = mask / 2 + (y < 0)`.
        let negative = _mm256_cmpgt_epi32(_mm256_setzero_si256(), y);
        let threshold = _mm256_sub_epi32(half_mask, negative);
        let up = _mm256_cmpgt_epi32(_mm256_and_si256(y, mask), threshold);
        let z = _mm256_sub_epi32(_mm256_srav_epi32(y, right), up);
        let v = _mm256_add_epi32(z, zero_point);
        let v = _mm256_min_epi32(_mm256_max_epi32(v, lo), hi);
        // `v` is in `lo..=hi`, inside the int8 range: its low bytes are it.
        let v = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(v, bytes), words);
        let v = _mm_cvtsi128_si64(_mm256_castsi256_si128(v)).to_le_bytes();
        let dst = out.wrapping_add(p * stride);
        if nf == 8 {
            // SAFETY: the caller's: `nf` bytes writable at pixel `p`'s row.
            unsafe { dst.cast::<[u8; 8]>().write_unaligned(v) };
        } else {
            for (j, &b) in v.iter().enumerate().take(nf) {
                // SAFETY: as above, `j < nf`.
                unsafe { dst.add(j).write(b as i8) };
            }
        }
    }
}

/// Rows to columns of an 8 x 8 matrix of 32-bit values.
#[target_feature(enable = "avx2")]
#[inline]
fn transpose(r: [__m256i; 8]) -> [__m256i; 8] {
    let t: [__m256i; 8] = core::array::from_fn(|i| {
        let (a, b) = (r[i / 2 * 2], r[i / 2 * 2 + 1]);
        if i % 2 == 0 {
            _mm256_unpacklo_epi32(a, b)
        } else {
            _mm256_unpackhi_epi32(a, b)
        }
    });
    // u[4 h + k]: field k (and k + 4 in the high half) of rows 4 h..4 h + 4.
    let u: [__m256i; 8] = core::array::from_fn(|i| {
        let (h, k) = (i / 4, i % 4);
        let (a, b) = (t[4 * h + k / 2], t[4 * h + 2 + k / 2]);
        if k % 2 == 0 {
            _mm256_unpacklo_epi64(a, b)
        } else {
            _mm256_unpackhi_epi64(a, b)
        }
    });
    core::array::from_fn(|f| {
        let (a, b) = (u[f % 4], u[4 + f % 4]);
        if f < 4 {
            _mm256_permute2x128_si256::<0x20>(a, b)
        } else {
            _mm256_permute2x128_si256::<0x31>(a, b)
        }
    })
}
