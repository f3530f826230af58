//! The int8 conv on x86-64 with AVX-512 VNNI: `vpdpbusd` adds four
//! products of unsigned by signed bytes to each of sixteen 32-bit sums, so
//! one instruction does 64 multiply-adds where the AVX2 tile's `vpmaddwd`
//! does 16. The same packed kernel, block of [`PIXELS`] pixels and integers
//! as the other tiles: the same output bit for bit.
//!
//! - The packed kernel is read as it is: a filter pair's stream holds, per
//!   step of four `k`, filter `a`'s four weights then filter `b`'s, so 64
//!   bytes of it are eight steps of the pair, `(a, b)` alternating by
//!   32-bit lane.
//! - The im2col column of each pixel ([`Vnni`] as the gather's [`Widen`])
//!   holds per step the pixel's four inputs as `x + 128` (unsigned: `x ^
//!   0x80`) twice, once for each filter of a pair, so 64 bytes of it are
//!   the same eight steps; a tap off the input holds `zp + 128` (TFLite
//!   pads with the zero point). Its three columns take the same
//!   `6 * padded_k` bytes of scratch as the 16-bit block.
//! - A tile is the block's three pixels by up to eight pairs (24 `zmm`
//!   sums, eight steps per instruction); each sum's even lanes add up to
//!   filter `a`'s dot product, its odd lanes to `b`'s ([`pair_sums`] adds
//!   them up for sixteen filters at once).
//! - `sum w (x + 128) = sum w (x - zp) + (128 + zp) sum w`: the filter's
//!   weight sum times `128 + zp` is subtracted before the requantization.
//!   A tap off the input adds `w (zp + 128)` and so nothing, a padded `k`
//!   has weight 0. Every step wraps modulo 2^32 as the portable tile's
//!   `wrapping_add`s do, so the sums are exactly its.
//!
//! Used for `Isa::Avx512` where the CPU has `avx512vnni` and the conv has at
//! most [`MAX_FILTERS`] filters (the weight sums live on the stack); else
//! the AVX2 tile runs.

use super::{gather, ConvIo, Widen, PIXELS};
use crate::geom::Conv2dGeom;
use crate::quant::Requantize;
use core::arch::x86_64::*;

/// The most filters the VNNI conv takes (their weight sums, 4 KiB of stack).
pub const MAX_FILTERS: usize = 1024;

/// Pairs of filters per tile.
const PAIRS: usize = 8;

/// Whether this CPU has AVX-512 VNNI, and the byte and 256-bit forms of
/// AVX-512 the epilogue uses (every VNNI CPU has them).
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

/// The im2col layout of the VNNI conv (see the module doc): each pixel's
/// column contiguous, two equal words per step. Its routines run inside
/// [`conv`] only, whose contract is that the CPU has the features.
pub struct Vnni;

impl Widen for Vnni {
    const STEP_WORDS: usize = 2;

    #[inline(always)]
    fn column(slot: usize, quads: usize) -> usize {
        slot * 2 * quads
    }

    #[inline(always)]
    unsafe fn widen(dst: *mut u32, src: *const i8, quads: usize, _offset: u32) {
        // SAFETY: the caller's contract, and the CPU's features (`conv`'s).
        let done = unsafe { widen_simd(dst, src, quads) };
        for q in done..quads {
            // SAFETY: the caller's contract: `4 * quads` bytes readable at
            // `src`, two words per step writable at `dst` (word-aligned).
            unsafe {
                let w = src.add(4 * q).cast::<u32>().read_unaligned() ^ 0x8080_8080;
                dst.add(2 * q).write(w);
                dst.add(2 * q + 1).write(w);
            }
        }
    }

    #[inline(always)]
    unsafe fn zero(dst: *mut u32, quads: usize, offset: u32) {
        // `offset` is `-zp` in 16 bits: the zero point's byte is `zp + 128`.
        let zp = -i32::from(offset as u16 as i16);
        let w = u32::from_ne_bytes([(zp + 128) as u8; 4]);
        for q in 0..2 * quads {
            // SAFETY: the caller's contract (two words per step).
            unsafe { dst.add(q).write(w) };
        }
    }
}

/// [`Vnni::widen`] sixteen steps (64 inputs) at a time: returns how many
/// steps it wrote (a multiple of 16, the rest is the caller's).
///
/// # Safety
/// As [`Vnni::widen`]'s, and the CPU has the features [`available`] checks.
#[target_feature(enable = "avx512f,avx512vnni,avx512bw,avx512vl,avx2")]
#[inline]
unsafe fn widen_simd(dst: *mut u32, src: *const i8, quads: usize) -> usize {
    let flip = _mm512_set1_epi8(-128);
    // Each step's word twice: words (0, 0, 1, 1, ..., 7, 7), then 8..15.
    let lo = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    let hi = _mm512_add_epi32(lo, _mm512_set1_epi32(8));
    let mut q = 0;
    while q + 16 <= quads {
        // SAFETY: steps `q..q + 16` are the caller's: 64 bytes read, 128
        // written.
        unsafe {
            let v = _mm512_xor_si512(_mm512_loadu_si512(src.add(4 * q).cast()), flip);
            _mm512_storeu_si512(dst.add(2 * q).cast(), _mm512_permutexvar_epi32(lo, v));
            _mm512_storeu_si512(dst.add(2 * q + 16).cast(), _mm512_permutexvar_epi32(hi, v));
        }
        q += 16;
    }
    q
}

/// The packed conv (see `conv2d_int8_packed`) with `vpdpbusd`.
///
/// # Safety
/// The CPU has AVX-512 F and VNNI ([`available`]); the lengths are checked
/// as in `packed_loop` (packed kernel, one requantization per filter,
/// layout, scratch of `scratch_bytes`), and `g.output.c <= MAX_FILTERS`.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f,avx512vnni,avx512bw,avx512vl,avx2")]
pub(super) unsafe fn conv(
    g: &Conv2dGeom,
    mut io: impl ConvIo,
    packed: &[i32],
    requantize: &[Requantize],
    input_zero_point: i32,
    layout: (usize, usize),
    block: &mut [u32],
) {
    let (o, quads) = (g.output, super::padded_k(g) / 4);
    let (stride, offset) = layout;
    // Each filter's weight sum times `128 + zp`.
    let mut correction = [0i32; MAX_FILTERS];
    let pair_words = quads * 2;
    for (pair, w) in packed.chunks_exact(pair_words).enumerate() {
        // SAFETY: the caller's CPU contract; `w` holds `quads * 2` words.
        let [a, b] = unsafe { weight_sums(w.as_ptr(), quads) };
        for (j, s) in [a, b].into_iter().enumerate() {
            if let Some(c) = correction.get_mut(2 * pair + j) {
                *c = s.wrapping_mul(128 + input_zero_point);
            }
        }
    }
    let pixels = o.h * o.w;
    for first in (0..pixels).step_by(PIXELS) {
        let n = PIXELS.min(pixels - first);
        let x = io.input();
        for slot in 0..n {
            gather::<Vnni>(g, x, input_zero_point, first + slot, block, slot);
        }
        let rows = io.output_from(first * stride + offset);
        // The block's last row holds at least the layer's channels (the
        // layouts checked by the caller): every store below is inside.
        assert!(
            rows.len() >= (n - 1) * stride + o.c,
            "conv2d_int8: output rows"
        );
        let groups = packed
            .chunks(PAIRS * pair_words)
            .zip(requantize.chunks(2 * PAIRS));
        for (group, (w, rq)) in groups.enumerate() {
            let mut sums = [[0i32; 2 * PAIRS]; PIXELS];
            // SAFETY: the caller's CPU contract; the block holds `PIXELS`
            // columns of `quads * 2` words (`Vnni::column`), `w` whole
            // pairs of `quads * 2` words (`chunks` of a multiple of them).
            unsafe {
                tile(
                    &mut sums,
                    block.as_ptr(),
                    w.as_ptr(),
                    w.len() / pair_words,
                    quads,
                )
            };
            // Eight filters at a time (the requantization's lanes).
            for (half, rq) in rq.chunks(8).enumerate() {
                let f = group * 2 * PAIRS + 8 * half;
                // SAFETY: the CPU's features (the caller's); pixel `p <
                // n`'s filters `f..f + rq.len()` are inside `rows` (the
                // assertion).
                unsafe {
                    let out = rows.as_mut_ptr().add(f);
                    let correction = &correction[f..][..rq.len()];
                    store_group(&sums, 8 * half, correction, rq, out, stride, n);
                }
            }
        }
    }
}

/// Stores `n` pixels' outputs of eight (or fewer, `rq`) of a group's
/// filters, from `first`: `rq[j]` applied to `sums[p][first + j] -
/// correction[j]` (as
/// [`Requantize::apply`], in eight lanes) at `out + p * stride + j`.
///
/// # Safety
/// The CPU has the features [`available`] checks; `correction` is as long as `rq`, at most
/// 8; `out + p * stride + j` is writable for `p < n <= PIXELS`, `j <
/// rq.len()`.
#[target_feature(enable = "avx512f,avx512vnni,avx512bw,avx512vl,avx2")]
#[inline]
unsafe fn store_group(
    sums: &[[i32; 2 * PAIRS]; PIXELS],
    first: usize,
    correction: &[i32],
    rq: &[Requantize],
    out: *mut i8,
    stride: usize,
    n: usize,
) {
    let nf = rq.len();
    let keep = ((1u32 << nf) - 1) as u8;
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
    // SAFETY: `correction` holds `nf` values: the masked lanes only.
    let correction = unsafe { _mm256_maskz_loadu_epi32(keep, correction.as_ptr().cast()) };
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
        // SAFETY: the caller's: `nf` bytes writable at pixel `p`'s row.
        unsafe {
            _mm_mask_storeu_epi8(
                out.add(p * stride).cast(),
                keep as u16,
                _mm256_cvtepi32_epi8(v),
            )
        };
    }
}

/// Rows to columns of an 8 x 8 matrix of 32-bit values.
#[target_feature(enable = "avx512f,avx512vnni,avx512bw,avx512vl,avx2")]
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

/// The block's [`PIXELS`] pixels by `pairs` (1 to [`PAIRS`]) filter pairs:
/// `sums[p][2 i + j]` is pixel `p`'s dot product with filter `j` of pair `i`
/// (`x + 128` by the weights).
///
/// # Safety
/// The CPU has the features [`available`] checks; `block` holds [`PIXELS`] columns of
/// `2 * quads` words, `w` `pairs` streams of `2 * quads` words; `quads` is
/// a positive multiple of 4.
#[target_feature(enable = "avx512f,avx512vnni,avx512bw,avx512vl,avx2")]
unsafe fn tile(
    sums: &mut [[i32; 2 * PAIRS]; PIXELS],
    block: *const u32,
    w: *const i32,
    pairs: usize,
    quads: usize,
) {
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
unsafe fn tile_n<const P: usize>(
    sums: &mut [[i32; 2 * PAIRS]; PIXELS],
    block: *const u32,
    w: *const i32,
    quads: usize,
) {
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

/// The sums of `a`'s even and of its odd 32-bit lanes (wrapping).
#[target_feature(enable = "avx512f,avx512vnni,avx512bw,avx512vl,avx2")]
#[inline]
fn lane_parity_sums(a: __m512i) -> [i32; 2] {
    let h = _mm256_add_epi32(_mm512_castsi512_si256(a), _mm512_extracti64x4_epi64::<1>(a));
    let q = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256::<1>(h));
    let d = _mm_add_epi32(q, _mm_unpackhi_epi64(q, q));
    [_mm_cvtsi128_si32(d), _mm_extract_epi32::<1>(d)]
}

/// One pair's weight sums (filter `a`, filter `b`) over its stream.
///
/// # Safety
/// The CPU has the features [`available`] checks; `w` holds `2 * quads` words; `quads`
/// is a multiple of 4.
#[target_feature(enable = "avx512f,avx512vnni,avx512bw,avx512vl,avx2")]
unsafe fn weight_sums(w: *const i32, quads: usize) -> [i32; 2] {
    let ones = _mm512_set1_epi8(1);
    let mut acc = _mm512_setzero_si512();
    let mut q = 0;
    while q < quads {
        let mask: __mmask16 = if quads - q >= 8 { 0xffff } else { 0x00ff };
        // SAFETY: as in `tile_n`: the (masked) words are inside the stream.
        let wv = unsafe { _mm512_maskz_loadu_epi32(mask, w.add(2 * q).cast()) };
        acc = _mm512_dpbusd_epi32(acc, ones, wv);
        q += 8;
    }
    lane_parity_sums(acc)
}
