//! The int8 conv on 8-bit im2col columns, for the tiles that multiply
//! bytes (x86's, AArch64's `sdot`): the same packed kernel, block of
//! [`PIXELS`] pixels and integers as the 16-bit tiles (so the same output
//! bit for bit), with each pixel's inputs kept as bytes so that a tile
//! multiplies them without unpacking the kernel.
//!
//! - The packed kernel is read as it is: a filter pair's stream holds, per
//!   step of four `k`, filter `a`'s four weights then filter `b`'s.
//! - The im2col column of each pixel ([`Bytes`] as the gather's [`Widen`])
//!   holds per step the pixel's four inputs as `x + OFFSET` twice, once
//!   for each filter of a pair, so a stretch of it lines up with the same
//!   stretch of a pair's stream; a tap off the input holds `zp + OFFSET`
//!   (TFLite pads with the zero point). [`ByteIsa::OFFSET`] is 128 on x86
//!   (`x ^ 0x80`: its byte products take an unsigned operand) and 0 for
//!   `sdot` (signed by signed). Its three columns take the same `6 *
//!   padded_k` bytes of scratch as the 16-bit block.
//! - A tile ([`ByteTile`]) sums the block's three pixels by up to
//!   [`ByteTile::PAIRS`] pairs over the whole reduction, into [`Sums`] in
//!   filter order: `vnni.rs` with `vpdpbusd` (AVX-512 VNNI, four byte
//!   products per 32-bit lane), `avx2.rs` with the bytes widened to 16 bits
//!   and `vpmaddwd`, `sdot.rs` with AArch64's `sdot`.
//! - `sum w (x + OFFSET) = sum w (x - zp) + (OFFSET + zp) sum w`: the
//!   filter's weight sum times `OFFSET + zp` is subtracted before the
//!   requantization. A tap off the input adds `w (zp + OFFSET)` and so
//!   nothing, a padded `k` has weight 0. Every step wraps modulo 2^32 as
//!   the portable tile's `wrapping_add`s do, so the sums are exactly its.
//! - The requantization is [`ByteIsa::store_group`]'s: [`Requantize::apply`]
//!   per output, or on x86 the same in eight lanes.
//!
//! Only for convs of at most [`MAX_FILTERS`] filters (their weight sums live
//! on the stack); the 16-bit tiles take the others.

use super::{gather, ConvIo, Widen, PIXELS};
use crate::geom::Conv2dGeom;
use crate::quant::Requantize;
use core::marker::PhantomData;

/// The most filters the byte conv takes (their weight sums, 4 KiB of stack).
pub const MAX_FILTERS: usize = 1024;

/// A tile's sums: per pixel of the block, up to sixteen filters' dot
/// products (`x + OFFSET` by the weights), in filter order.
pub type Sums = [[i32; 16]; PIXELS];

/// A tile kernel on the byte columns.
pub trait ByteTile {
    /// The routines around the tile (column layout, weight sums, epilogue).
    type Isa: ByteIsa;
    /// Filter pairs per tile (at most 8).
    const PAIRS: usize;
    /// `sums[p][2 i + j]`: pixel `p`'s dot product with filter `j` of pair
    /// `i < pairs`.
    ///
    /// # Safety
    /// The CPU runs the tile; `block` holds [`PIXELS`] columns of `2 *
    /// quads` words ([`Widen::column`] of [`Bytes`]), `w` `pairs` (1 to
    /// `PAIRS`) streams of `2 * quads` words; `quads` is a positive
    /// multiple of 4.
    unsafe fn tile(sums: &mut Sums, block: *const u32, w: *const i32, pairs: usize, quads: usize);
}

/// A target's routines of the byte conv. The defaults are plain Rust; a
/// target overrides them with its SIMD.
pub trait ByteIsa {
    /// Added to each input byte in the columns (see the module doc).
    const OFFSET: i32;

    /// Writes the first steps of [`Bytes::widen`] (each step's four bytes
    /// plus `OFFSET`, twice) and returns how many (the caller writes the
    /// rest).
    ///
    /// # Safety
    /// As [`Widen::widen`]'s, and the CPU runs the tile this serves.
    #[inline(always)]
    unsafe fn widen_fast(dst: *mut u32, src: *const i8, quads: usize) -> usize {
        let _ = (dst, src, quads);
        0
    }

    /// One pair's weight sums (filter `a`, filter `b`) over its stream of
    /// steps (filter `a`'s word, filter `b`'s).
    ///
    /// # Safety
    /// The CPU runs the tile this serves.
    #[inline(always)]
    unsafe fn weight_sums(w: &[i32]) -> [i32; 2] {
        portable_weight_sums(w)
    }

    /// Stores `n` pixels' outputs of up to eight (`rq.len()`) of a group's
    /// filters, from `first`: `rq[j]` applied to `sums[p][first + j] -
    /// correction[j]` at `out + p * stride + j`.
    ///
    /// # Safety
    /// The CPU runs the tile this serves; `correction` is as long as `rq`,
    /// at most 8; `out + p * stride + j` is writable for `p < n <=
    /// PIXELS`, `j < rq.len()`.
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
        for (p, s) in sums.iter().enumerate().take(n) {
            let s = &s[first..][..rq.len()];
            for (j, ((&acc, &c), rq)) in s.iter().zip(correction).zip(rq).enumerate() {
                // SAFETY: the caller's: pixel `p`'s filter `j` is writable.
                unsafe { out.add(p * stride + j).write(rq.apply(acc.wrapping_sub(c))) };
            }
        }
    }
}

/// [`ByteIsa::weight_sums`] in plain Rust (wrapping, as the tiles' sums).
pub fn portable_weight_sums(w: &[i32]) -> [i32; 2] {
    let bytes = |v: i32| {
        v.to_le_bytes()
            .iter()
            .map(|&b| i32::from(b as i8))
            .sum::<i32>()
    };
    w.chunks_exact(2).fold([0i32; 2], |[a, b], ws| {
        [a.wrapping_add(bytes(ws[0])), b.wrapping_add(bytes(ws[1]))]
    })
}

/// The byte im2col layout (see the module doc) of target `I`: each pixel's
/// column contiguous, two equal words per step. Its routines run inside
/// [`conv`] only, whose callers' CPUs run `I`'s tiles.
pub struct Bytes<I>(PhantomData<I>);

impl<I: ByteIsa> Widen for Bytes<I> {
    const STEP_WORDS: usize = 2;

    #[inline(always)]
    fn column(slot: usize, quads: usize) -> usize {
        slot * 2 * quads
    }

    #[inline(always)]
    unsafe fn widen(dst: *mut u32, src: *const i8, quads: usize, _offset: u32) {
        // `x + 128` is `x ^ 0x80` in a byte; `x + 0` is `x`.
        let flip = u32::from_ne_bytes([I::OFFSET as u8; 4]);
        // SAFETY: the caller's contract (and its CPU's).
        let done = unsafe { I::widen_fast(dst, src, quads) };
        for q in done..quads {
            // SAFETY: the caller's contract: `4 * quads` bytes readable at
            // `src`, two words per step writable at `dst` (word-aligned).
            unsafe {
                let w = src.add(4 * q).cast::<u32>().read_unaligned() ^ flip;
                dst.add(2 * q).write(w);
                dst.add(2 * q + 1).write(w);
            }
        }
    }

    #[inline(always)]
    unsafe fn zero(dst: *mut u32, quads: usize, offset: u32) {
        // `offset` is `-zp` in 16 bits: the zero point's byte is `zp + OFFSET`.
        let zp = -i32::from(offset as u16 as i16);
        let w = u32::from_ne_bytes([(zp + I::OFFSET) as u8; 4]);
        for q in 0..2 * quads {
            // SAFETY: the caller's contract (two words per step).
            unsafe { dst.add(q).write(w) };
        }
    }
}

/// The packed conv (see `conv2d_int8_packed`) on tile `T`, inlined into
/// each tile's entry point (compiled for its features).
///
/// # Safety
/// The CPU runs `T` (and its `T::Isa`'s routines); the lengths are checked as in
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
    // Each filter's weight sum times `OFFSET + zp`.
    let mut correction = [0i32; MAX_FILTERS];
    let pair_words = quads * 2;
    for (pair, w) in packed.chunks_exact(pair_words).enumerate() {
        // SAFETY: the caller's CPU (it runs `T`).
        for (j, s) in unsafe { T::Isa::weight_sums(w) }.into_iter().enumerate() {
            if let Some(c) = correction.get_mut(2 * pair + j) {
                *c = s.wrapping_mul(T::Isa::OFFSET + input_zero_point);
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
            gather::<Bytes<T::Isa>>(g, x, input_zero_point, first + slot, block, slot);
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
            // columns of `quads * 2` words (`Widen::column` of `Bytes`), `w` whole
            // pairs of `quads * 2` words (`chunks` of a multiple of them),
            // at most `T::PAIRS`.
            unsafe {
                let pairs = w.len() / pair_words;
                T::tile(&mut sums, block.as_ptr(), w.as_ptr(), pairs, quads)
            };
            // Eight filters at a time (the requantization's lanes).
            for (half, rq) in rq.chunks(8).enumerate() {
                let f = group * 2 * T::PAIRS + 8 * half;
                // SAFETY: the caller's CPU (it runs `T`); pixel `p < n`'s filters `f..f
                // + rq.len()` are inside `rows` (the assertion).
                unsafe {
                    let out = rows.as_mut_ptr().add(f);
                    let correction = &correction[f..][..rq.len()];
                    T::Isa::store_group(&sums, 8 * half, correction, rq, out, stride, n);
                }
            }
        }
    }
}
