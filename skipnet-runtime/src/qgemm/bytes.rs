//! The int8 conv on 8-bit im2col columns, for the x86 tiles: the same
//! packed kernel, block of [`PIXELS`] pixels and integers as the 16-bit
//! tiles (so the same output bit for bit), with each pixel's inputs kept as
//! bytes so that a tile multiplies them without unpacking the kernel.
//!
//! - The packed kernel is read as it is: a filter pair's stream holds, per
//!   step of four `k`, filter `a`'s four weights then filter `b`'s.
//! - The im2col column of each pixel ([`Bytes`] as the gather's [`Widen`])
//!   holds per step the pixel's four inputs as `x + 128` (unsigned: `x ^
//!   0x80`) twice, once for each filter of a pair, so a stretch of it lines
//!   up with the same stretch of a pair's stream; a tap off the input holds
//!   `zp + 128` (TFLite pads with the zero point). Its three columns take
//!   the same `6 * padded_k` bytes of scratch as the 16-bit block.
//! - A tile ([`ByteTile`]) sums the block's three pixels by up to
//!   [`ByteTile::PAIRS`] pairs over the whole reduction, into [`Sums`] in
//!   filter order: `vnni.rs` with `vpdpbusd` (AVX-512 VNNI, four byte
//!   products per 32-bit lane), `avx2.rs` with the bytes widened to 16 bits
//!   and `vpmaddwd`.
//! - `sum w (x + 128) = sum w (x - zp) + (128 + zp) sum w`: the filter's
//!   weight sum times `128 + zp` is subtracted before the requantization.
//!   A tap off the input adds `w (zp + 128)` and so nothing, a padded `k`
//!   has weight 0. Every step wraps modulo 2^32 as the portable tile's
//!   `wrapping_add`s do, so the sums are exactly its.
//! - The requantization runs in eight lanes (the filters' `Requantize`
//!   fields transposed), as [`Requantize::apply`].
//!
//! Only for convs of at most [`MAX_FILTERS`] filters (their weight sums live
//! on the stack); the 16-bit portable tile takes the others.

use super::{gather, ConvIo, Widen, PIXELS};
use crate::geom::Conv2dGeom;
use crate::quant::Requantize;
use core::arch::x86_64::*;

/// The most filters the byte conv takes (their weight sums, 4 KiB of stack).
pub const MAX_FILTERS: usize = 1024;

/// A tile's sums: per pixel of the block, up to sixteen filters' dot
/// products (`x + 128` by the weights), in filter order.
pub type Sums = [[i32; 16]; PIXELS];

/// A tile kernel on the byte columns.
pub trait ByteTile {
    /// Filter pairs per tile (at most 8).
    const PAIRS: usize;
    /// `sums[p][2 i + j]`: pixel `p`'s dot product with filter `j` of pair
    /// `i < pairs`.
    ///
    /// # Safety
    /// The CPU runs the tile; `block` holds [`PIXELS`] columns of `2 *
    /// quads` words ([`Bytes::column`]), `w` `pairs` (1 to `PAIRS`) streams
    /// of `2 * quads` words; `quads` is a positive multiple of 4.
    unsafe fn tile(sums: &mut Sums, block: *const u32, w: *const i32, pairs: usize, quads: usize);
}

/// The byte im2col layout (see the module doc): each pixel's column
/// contiguous, two equal words per step. Its routines run inside
/// [`conv`] only, whose callers have AVX2.
pub struct Bytes;

impl Widen for Bytes {
    const STEP_WORDS: usize = 2;

    #[inline(always)]
    fn column(slot: usize, quads: usize) -> usize {
        slot * 2 * quads
    }

    #[inline(always)]
    unsafe fn widen(dst: *mut u32, src: *const i8, quads: usize, _offset: u32) {
        // SAFETY: the caller's contract, and AVX2 (`conv`'s callers').
        let done = unsafe { widen_avx2(dst, src, quads) };
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

/// [`Bytes::widen`] eight steps (32 inputs) at a time: returns how many
/// steps it wrote (a multiple of 8, the rest is the caller's).
///
/// # Safety
/// As [`Bytes::widen`]'s, and the CPU has AVX2.
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

/// The packed conv (see `conv2d_int8_packed`) on tile `T`, inlined into
/// each tile's entry point (compiled for its features).
///
/// # Safety
/// The CPU runs `T` and has AVX2; the lengths are checked as in
/// `packed_loop` (packed kernel, one requantization per filter, layout,
/// scratch of `scratch_bytes`), and `g.output.c <= MAX_FILTERS`.
#[inline(always)]
pub(super) unsafe fn conv<T: ByteTile>(
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
        // SAFETY: AVX2 (the caller's).
        for (j, s) in unsafe { weight_sums(w) }.into_iter().enumerate() {
            if let Some(c) = correction.get_mut(2 * pair + j) {
                *c = s.wrapping_mul(128 + input_zero_point);
            }
        }
    }
    let pixels = o.h * o.w;
    for first in (0..pixels).step_by(PIXELS) {
        let n = PIXELS.min(pixels - first);
        // A last block's missing pixels keep whatever the scratch held:
        // their sums are computed and never stored.
        let x = io.input();
        for slot in 0..n {
            gather::<Bytes>(g, x, input_zero_point, first + slot, block, slot);
        }
        let rows = io.output_from(first * stride + offset);
        // The block's last row holds at least the layer's channels (the
        // layouts checked by the caller): every store below is inside.
        assert!(
            rows.len() >= (n - 1) * stride + o.c,
            "conv2d_int8: output rows"
        );
        let groups = packed
            .chunks(T::PAIRS * pair_words)
            .zip(requantize.chunks(2 * T::PAIRS));
        for (group, (w, rq)) in groups.enumerate() {
            let mut sums = [[0i32; 16]; PIXELS];
            // SAFETY: the caller's CPU contract; the block holds `PIXELS`
            // columns of `quads * 2` words (`Bytes::column`), `w` whole
            // pairs of `quads * 2` words (`chunks` of a multiple of them),
            // at most `T::PAIRS`.
            unsafe {
                let pairs = w.len() / pair_words;
                T::tile(&mut sums, block.as_ptr(), w.as_ptr(), pairs, quads)
            };
            // Eight filters at a time (the requantization's lanes).
            for (half, rq) in rq.chunks(8).enumerate() {
                let f = group * 2 * T::PAIRS + 8 * half;
                // SAFETY: AVX2 (the caller's); pixel `p < n`'s filters `f..f
                // + rq.len()` are inside `rows` (the assertion).
                unsafe {
                    let out = rows.as_mut_ptr().add(f);
                    let correction = &correction[f..][..rq.len()];
                    store_group(&sums, 8 * half, correction, rq, out, stride, n);
                }
            }
        }
    }
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
    let bytes = |v: i32| {
        v.to_le_bytes()
            .iter()
            .map(|&b| i32::from(b as i8))
            .sum::<i32>()
    };
    // A stream is a multiple of 8 words (`quads` of 4): no rest, but
    // summed if there were.
    steps.remainder().chunks_exact(2).fold(
        [_mm_cvtsi128_si32(h), _mm_extract_epi32::<1>(h)],
        |[a, b], ws| [a.wrapping_add(bytes(ws[0])), b.wrapping_add(bytes(ws[1]))],
    )
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
