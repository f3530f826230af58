//! The fast int8 convolution: TFLite's per-channel int8 conv (the same
//! integers as [`crate::ops::conv2d_int8::conv2d_int8_reference`], so the
//! same output bit for bit) as a GEMM of 16-bit input pairs by 8-bit weight
//! pairs, the shape of the Cortex-M4's `SMLAD` (two 16 x 16 products added
//! to a 32-bit sum in one instruction), as CMSIS-NN computes it.
//!
//! - Weights are packed once (at load, or at compile time when baked):
//!   filters in pairs, the reduction `k = (ky * kw + kx) * cin + ci` padded
//!   to a multiple of [`K_STEP`], one little-endian word per filter per four
//!   `k` (`[pair][k / 4][filter of the pair]`). `SXTB16` of a word gives
//!   the 16-bit pair `(w0, w2)`, rotated by 8 `(w1, w3)`.
//! - For each block of [`PIXELS`] output pixels the input is gathered once
//!   (im2col) into scratch as 16-bit `x - input_zero_point` (0 for padding,
//!   which is TFLite's padding with the zero point), in the same order:
//!   per four `k`, per pixel, the words `(x0, x2)` and `(x1, x3)`.
//! - The tile kernel sums [`PIXELS`] x 2 filters over the whole reduction
//!   (20 instructions per 24 multiply-adds on the Cortex-M4); the epilogue
//!   adds the bias and requantizes as TFLite does.
//!
//! Only `groups == 1`; a grouped conv runs the reference kernel. The tile
//! kernel is a trait ([`TileKernel`]) with a portable implementation (exact
//! integer arithmetic, what every other target runs) and the Cortex-M
//! assembly one (`cortex_m.rs`, with the DSP extension: thumbv7em and
//! ARMv8-M mainline); AArch64 has an Advanced SIMD tile (`neon.rs`). On
//! x86-64 the same packed kernel runs a loop of its own on 8-bit im2col
//! columns (`bytes.rs`) with an AVX2 tile (`avx2.rs`) or, where the CPU
//! has AVX-512 VNNI, a `vpdpbusd` one (`vnni.rs`); so does AArch64 where
//! the CPU has the dot product instructions (`sdot.rs`).

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(any(
    target_arch = "x86_64",
    all(target_arch = "aarch64", target_feature = "neon")
))]
mod bytes;
#[cfg(skipnet_cortex_m_dsp)]
mod cortex_m;
#[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
mod neon;
#[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
mod sdot;
#[cfg(target_arch = "x86_64")]
mod vnni;

use crate::geom::Conv2dGeom;
use crate::isa::Isa;
use crate::quant::Requantize;

/// Output pixels per tile.
pub const PIXELS: usize = 3;
/// The reduction is padded to a multiple of this (the kernels' unrolled step).
pub const K_STEP: usize = 16;

/// Whether the packed kernel runs this geometry (else the reference does).
pub const fn supports(g: &Conv2dGeom) -> bool {
    g.groups == 1
}

/// The reduction length per output, padded to [`K_STEP`].
pub const fn padded_k(g: &Conv2dGeom) -> usize {
    let k = g.kernel.0 * g.kernel.1 * g.input.c;
    k.div_ceil(K_STEP) * K_STEP
}

/// Words (4 weights each) of the packed kernel.
pub const fn packed_kernel_words(g: &Conv2dGeom) -> usize {
    g.output.c.div_ceil(2) * 2 * padded_k(g) / 4
}

/// Bytes of scratch the conv needs (the im2col block, plus slack to align
/// it to a word).
pub const fn scratch_bytes(g: &Conv2dGeom) -> usize {
    PIXELS * padded_k(g) * 2 + 3
}

/// Packs a Keras `[kh, kw, cin, filters]` int8 kernel (see the module doc).
///
/// # Panics
/// If the lengths do not match the geometry.
pub fn pack_kernel(g: &Conv2dGeom, kernel: &[i8], out: &mut [i32]) {
    assert_eq!(kernel.len(), g.kernel_len(), "int8 kernel length");
    assert_eq!(
        out.len(),
        packed_kernel_words(g),
        "packed int8 kernel length"
    );
    let (k_len, f_len, kp) = (g.kernel.0 * g.kernel.1 * g.input.c, g.output.c, padded_k(g));
    let w = |k: usize, f: usize| -> u8 {
        if k < k_len && f < f_len {
            kernel[k * f_len + f] as u8
        } else {
            0
        }
    };
    for (i, word) in out.iter_mut().enumerate() {
        let (pair, rest) = (i / (kp / 2), i % (kp / 2));
        let (quad, which) = (rest / 2, rest % 2);
        let (f, k0) = (2 * pair + which, 4 * quad);
        *word = i32::from_le_bytes([w(k0, f), w(k0 + 1, f), w(k0 + 2, f), w(k0 + 3, f)]);
    }
}

/// What a packed conv does besides multiplying: the input's zero point
/// (subtracted in the im2col) and each filter's prepared requantization,
/// its bias folded in. A `#[quantized]` network stores one per conv, built
/// when the weights are loaded, or at compile time when they are baked.
#[derive(Clone, Copy, Debug)]
pub struct Epilogue<const C: usize> {
    /// The input tensor's zero point.
    pub input_zero_point: i32,
    /// Per filter.
    pub filters: [Requantize; C],
}

#[cfg(feature = "alloc")]
impl<const C: usize> Epilogue<C> {
    /// From the layer's quantization as
    /// [`crate::ops::conv2d_int8::requantization`] derives it, and its
    /// bias. `Err` as that function's, or for the wrong number of scales
    /// or biases.
    pub fn new(
        layer: &str,
        input: crate::quant::Quantization,
        kernel_scale: &[f32],
        bias: Option<&[i32]>,
        output: crate::quant::Quantization,
        activation: crate::Activation,
    ) -> Result<Self, crate::Error> {
        let lens = (kernel_scale.len(), bias.map_or(C, <[i32]>::len));
        if lens != (C, C) {
            return Err(crate::Error::Quantization {
                reason: alloc::format!(
                    "`{layer}` has {} kernel scales and {} biases for {C} filters",
                    lens.0,
                    lens.1
                ),
            });
        }
        let (multipliers, clamp) = crate::ops::conv2d_int8::requantization(
            layer,
            input,
            kernel_scale,
            output,
            activation,
        )?;
        let mut filters = [Requantize::new(
            0,
            crate::quant::QuantizedMultiplier {
                multiplier: 0,
                shift: 0,
            },
            0,
            (0, 0),
        ); C];
        for (f, r) in filters.iter_mut().enumerate() {
            let b = bias.map_or(0, |b| b[f]);
            *r = Requantize::new(b, multipliers[f], output.zero_point, clamp);
        }
        Ok(Epilogue {
            input_zero_point: input.zero_point,
            filters,
        })
    }
}

/// A tile kernel: adds to `acc` (pixel-major, `[p0 f0, p0 f1, p1 f0, ...]`)
/// the products of `quads` steps of four `k` of the im2col block `a`
/// ([`PIXELS`] x 2 words per step) and the filter pair's packed words `w`
/// (2 per step).
pub trait TileKernel {
    /// # Safety
    /// `a` holds `quads * PIXELS * 2` words and `w` `quads * 2`, both
    /// word-aligned; `quads` is a positive multiple of `K_STEP / 4`.
    unsafe fn tile(acc: &mut [i32; 2 * PIXELS], a: *const u32, w: *const i32, quads: usize);
    /// [`TileKernel::tile`] for the block's first pixel only (a last,
    /// one-pixel block). By default the whole tile: the other pixels' sums
    /// are computed from whatever the block holds there and dropped.
    ///
    /// # Safety
    /// As [`TileKernel::tile`].
    #[inline(always)]
    unsafe fn tile1(acc: &mut [i32; 2], a: *const u32, w: *const i32, quads: usize) {
        let mut all = [acc[0], acc[1], 0, 0, 0, 0];
        // SAFETY: the caller's contract.
        unsafe { Self::tile(&mut all, a, w, quads) };
        *acc = [all[0], all[1]];
    }
    /// [`TileKernel::tile`] for the pair's first filter only (the last
    /// pair of an odd number of filters); the other sums are left alone.
    ///
    /// # Safety
    /// As [`TileKernel::tile`].
    unsafe fn tile_odd(acc: &mut [i32; 2 * PIXELS], a: *const u32, w: *const i32, quads: usize) {
        // SAFETY: the caller's contract.
        unsafe { Self::tile(acc, a, w, quads) }
    }
    /// Stores one filter's outputs of a block: `r` applied to `sums[2 p]`
    /// at `out + p * stride`, for the block's `n` pixels. By default one
    /// output at a time, in portable code.
    ///
    /// # Safety
    /// `sums` holds at least `2 n - 1` values; `out` is writable at
    /// `p * stride` for every `p < n`.
    #[inline(always)]
    unsafe fn requantize(sums: &[i32], r: &Requantize, out: *mut i8, stride: usize, n: usize) {
        for p in 0..n {
            // SAFETY: the caller's contract.
            unsafe { out.add(p * stride).write(r.apply(sums[2 * p])) };
        }
    }
}

/// Exact integer arithmetic, `SMLAD`'s.
pub struct Portable;

impl TileKernel for Portable {
    #[inline(always)]
    unsafe fn tile(acc: &mut [i32; 2 * PIXELS], a: *const u32, w: *const i32, quads: usize) {
        // SAFETY: the caller's contract (lengths and alignment).
        let (a, w) = unsafe {
            (
                core::slice::from_raw_parts(a, quads * PIXELS * 2),
                core::slice::from_raw_parts(w, quads * 2),
            )
        };
        portable_tile(acc, a, w);
    }
}

/// The portable tile on slices.
fn portable_tile(acc: &mut [i32; 2 * PIXELS], a: &[u32], w: &[i32]) {
    let halves = |v: u32| (v as u16 as i16 as i32, (v >> 16) as u16 as i16 as i32);
    let bytes = |v: i32| v.to_le_bytes().map(|b| b as i8 as i32);
    for (xs, ws) in a.chunks_exact(PIXELS * 2).zip(w.chunks_exact(2)) {
        let (wa, wb) = (bytes(ws[0]), bytes(ws[1]));
        for p in 0..PIXELS {
            let (x0, x2) = halves(xs[2 * p]);
            let (x1, x3) = halves(xs[2 * p + 1]);
            let dot = |w: [i32; 4]| x0 * w[0] + x1 * w[1] + x2 * w[2] + x3 * w[3];
            acc[2 * p] = acc[2 * p].wrapping_add(dot(wa));
            acc[2 * p + 1] = acc[2 * p + 1].wrapping_add(dot(wb));
        }
    }
}

/// Which tile kernel [`conv2d_int8_packed`] runs on this target for
/// `isa`: on x86-64 the byte tiles, VNNI's where `isa` is `Avx512` and the
/// CPU has it, else AVX2's where `isa` is `Avx2Fma` or `Avx512` (and the
/// CPU runs it), for convs of at most 1,024 filters (the portable tile
/// takes wider ones); on AArch64 for `Neon` the `sdot` tile where the CPU
/// has it (at most 1,024 filters too), else the `smlal` one; else the
/// target's own.
pub fn kernel(isa: Isa) -> &'static str {
    if vnni_for(isa) {
        "avx512-vnni (vpdpbusd)"
    } else if avx2_for(isa) {
        "avx2 (vpmaddwd on bytes)"
    } else if sdot_for(isa) {
        "neon (sdot)"
    } else if neon_for(isa) {
        "neon (smlal)"
    } else if cfg!(skipnet_cortex_m_dsp) {
        "cortex-m (SMLAD)"
    } else {
        "portable"
    }
}

/// Whether the Advanced SIMD tile runs for `isa`.
fn neon_for(isa: Isa) -> bool {
    cfg!(all(target_arch = "aarch64", target_feature = "neon")) && isa == Isa::Neon
}

/// Whether the `sdot` tile runs for `isa` (given the filter count:
/// [`bytes_take`]).
fn sdot_for(isa: Isa) -> bool {
    #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
    return neon_for(isa) && sdot::available();
    #[cfg(not(all(target_arch = "aarch64", target_feature = "neon")))]
    return {
        let _ = isa;
        false
    };
}

/// Whether the AVX-512 VNNI tile runs for `isa` (given the filter count:
/// [`bytes_take`]).
fn vnni_for(isa: Isa) -> bool {
    #[cfg(target_arch = "x86_64")]
    return isa == Isa::Avx512 && isa.available() && vnni::available();
    #[cfg(not(target_arch = "x86_64"))]
    return {
        let _ = isa;
        false
    };
}

/// Whether the byte conv (x86-64, AArch64's `sdot`) takes a conv of
/// `filters` filters.
#[cfg(any(
    target_arch = "x86_64",
    all(target_arch = "aarch64", target_feature = "neon")
))]
fn bytes_take(filters: usize) -> bool {
    filters <= bytes::MAX_FILTERS
}

/// Whether the AVX2 byte tile runs for `isa` (given the filter count:
/// [`bytes_take`]).
fn avx2_for(isa: Isa) -> bool {
    cfg!(target_arch = "x86_64") && matches!(isa, Isa::Avx2Fma | Isa::Avx512) && isa.available()
}

/// Writes pixel `slot`'s column of the im2col block: the output pixel
/// `pix`'s receptive field as 16-bit `x - zp` (0 where the window is off
/// the input, and in the reduction's padding). Inlined into each conv
/// loop as it was when there was one (a call per pixel cost the Cortex-M4
/// count 0.3%).
#[inline(always)]
fn gather<W: Widen>(g: &Conv2dGeom, x: &[i8], zp: i32, pix: usize, block: &mut [u32], slot: usize) {
    if g.input.c.is_multiple_of(4) {
        return gather_quads::<W>(g, x, zp, pix, block, slot);
    }
    // Channels not in fours (an RGB input): the receptive field is laid out
    // as raw bytes, a window off the input as the zero point (which the
    // widening turns into 0), in chunks of `CHUNK`, each widened at once.
    const CHUNK: usize = 64;
    let (inp, o, cin) = (g.input, g.output, g.input.c);
    let (h_up, w_up) = (inp.h * g.upsample.0, inp.w * g.upsample.1);
    let (oy, ox) = (pix / o.w, pix % o.w);
    let quads = padded_k(g) / 4;
    let offset = u32::from((-zp) as u16) * 0x0001_0001;
    assert!(
        slot < PIXELS && block.len() >= quads * PIXELS * 2,
        "im2col block too short"
    );
    let column = block[W::column(slot, quads)..].as_mut_ptr();
    let pad = zp as i8;
    let mut buf = [pad; CHUNK];
    let (mut fill, mut q0) = (0, 0);
    let flush = |buf: &[i8; CHUNK], steps: usize, q0: usize| {
        // SAFETY: chunks cover steps `q0..q0 + steps` with `q0 + steps <=
        // quads` (the padded reduction): inside the block (the assertion
        // above); `buf` holds `4 * steps` bytes.
        unsafe { W::widen(column.add(q0 * W::STEP_WORDS), buf.as_ptr(), steps, offset) };
    };
    for ky in 0..g.kernel.0 {
        let iy = (oy * g.strides.0 + ky * g.dilation.0) as isize - g.pad.0 as isize;
        for kx in 0..g.kernel.1 {
            let ix = (ox * g.strides.1 + kx * g.dilation.1) as isize - g.pad.1 as isize;
            let inside = iy >= 0 && (iy as usize) < h_up && ix >= 0 && (ix as usize) < w_up;
            let src = match inside {
                true => {
                    let (sy, sx) = (
                        stored(iy as usize, g.upsample.0),
                        stored(ix as usize, g.upsample.1),
                    );
                    Some(&x[(sy * inp.w + sx) * cin..][..cin])
                }
                false => None,
            };
            for i in 0..cin {
                buf[fill] = src.map_or(pad, |s| s[i]);
                fill += 1;
                if fill == CHUNK {
                    flush(&buf, CHUNK / 4, q0);
                    q0 += CHUNK / 4;
                    fill = 0;
                }
            }
        }
    }
    // The reduction's padding: the zero point too, to the last step.
    let steps = quads - q0;
    buf[fill..].fill(pad);
    if steps > 0 {
        flush(&buf, steps, q0);
    }
}

/// [`gather`] when every tap is whole steps of four channels: each tap's
/// channels widened (or zeroed) four at a time by the target's
/// [`Widen`] routines. Inlined too: on the Cortex-M4 count 0.4% fewer
/// instructions than a call per pixel.
#[inline(always)]
fn gather_quads<W: Widen>(
    g: &Conv2dGeom,
    x: &[i8],
    zp: i32,
    pix: usize,
    block: &mut [u32],
    slot: usize,
) {
    let (inp, o, cin) = (g.input, g.output, g.input.c);
    let (h_up, w_up) = (inp.h * g.upsample.0, inp.w * g.upsample.1);
    let (oy, ox) = (pix / o.w, pix % o.w);
    let (tap_quads, quads) = (cin / 4, padded_k(g) / 4);
    let offset = u32::from((-zp) as u16) * 0x0001_0001;
    // Every write below is to a step `q < quads` of the slot's column:
    // inside the block (`Widen`'s layout contract), checked once here.
    assert!(
        slot < PIXELS && block.len() >= quads * PIXELS * 2,
        "im2col block too short"
    );
    let column = block[W::column(slot, quads)..].as_mut_ptr();
    let row_len = inp.w * cin;
    let mut q = 0;
    for ky in 0..g.kernel.0 {
        let iy = (oy * g.strides.0 + ky * g.dilation.0) as isize - g.pad.0 as isize;
        if iy < 0 || iy as usize >= h_up {
            // The whole kernel row is off the input: its taps are zeros.
            // SAFETY: `q + kw * tap_quads <= quads` (the unpadded
            // reduction) and `kw * tap_quads >= 1`: the steps are inside
            // the block (the assertion above).
            unsafe {
                W::zero(
                    column.add(q * W::STEP_WORDS),
                    g.kernel.1 * tap_quads,
                    offset,
                )
            };
            q += g.kernel.1 * tap_quads;
            continue;
        }
        let row = &x[stored(iy as usize, g.upsample.0) * row_len..][..row_len];
        let mut ix = (ox * g.strides.1) as isize - g.pad.1 as isize;
        for _ in 0..g.kernel.1 {
            // SAFETY: `q + tap_quads <= quads` and `tap_quads >= 1`: the
            // tap's steps are inside the block (the assertion above).
            let dst = unsafe { column.add(q * W::STEP_WORDS) };
            if ix >= 0 && (ix as usize) < w_up {
                let src = &row[stored(ix as usize, g.upsample.1) * cin..][..cin];
                // SAFETY: `src` holds `4 * tap_quads` bytes; `dst` has
                // `tap_quads` steps in the block (above).
                unsafe { W::widen(dst, src.as_ptr(), tap_quads, offset) };
            } else {
                // SAFETY: as above.
                unsafe { W::zero(dst, tap_quads, offset) };
            }
            q += tap_quads;
            ix += g.dilation.1 as isize;
        }
    }
    if q < quads {
        // SAFETY: steps `q..quads` are inside the block (the assertion).
        unsafe { W::zero(column.add(q * W::STEP_WORDS), quads - q, offset) };
    }
}

/// The stored row (or column) of upsampled row `i` (nearest, factor `u`).
/// A division on a Cortex-M (`udiv`: one instruction, which the count
/// weighs); elsewhere the usual factors 1 and 2 skip the divider (tens of
/// cycles on x86: 11% of the VNNI conv's time on the seed U-Net's `up4`).
#[inline(always)]
fn stored(i: usize, u: usize) -> usize {
    if cfg!(skipnet_cortex_m_dsp) {
        i / u
    } else {
        match u {
            1 => i,
            2 => i >> 1,
            _ => i / u,
        }
    }
}

/// A target's im2col routines: `quads` steps of one pixel's column, two
/// words per step, each step [`Widen::STEP_WORDS`] words after the
/// previous one. A block of [`PIXELS`] columns of `quads` steps lies in
/// `quads * PIXELS * 2` words.
pub trait Widen {
    /// Words from one step of a column to the next.
    const STEP_WORDS: usize = PIXELS * 2;
    /// The word at which pixel `slot`'s column starts in a block of
    /// `quads` steps (by default the columns are interleaved, step by step).
    #[inline(always)]
    fn column(slot: usize, quads: usize) -> usize {
        let _ = quads;
        slot * 2
    }
    /// Writes four channels of `src` per step as `(x0 - zp, x2 - zp)`,
    /// `(x1 - zp, x3 - zp)`; `offset` is `-zp` in both 16-bit halves.
    ///
    /// # Safety
    /// `src` is valid for `4 * quads` reads; `dst` for the steps' writes
    /// (word-aligned).
    unsafe fn widen(dst: *mut u32, src: *const i8, quads: usize, offset: u32);
    /// Writes the steps of a tap off the input (TFLite pads with the zero
    /// point): what [`Widen::widen`] writes for four inputs equal to the
    /// zero point (zeros, for the 16-bit `x - zp` layout).
    ///
    /// # Safety
    /// As [`Widen::widen`]'s `dst`.
    unsafe fn zero(dst: *mut u32, quads: usize, offset: u32);
}

impl Widen for Portable {
    unsafe fn widen(dst: *mut u32, src: *const i8, quads: usize, offset: u32) {
        let zp = -i32::from(offset as u16 as i16);
        let pair = |a: i8, b: i8| {
            let lo = (i32::from(a) - zp) as u16 as u32;
            let hi = (i32::from(b) - zp) as u16 as u32;
            lo | (hi << 16)
        };
        for q in 0..quads {
            // SAFETY: the caller's contract.
            unsafe {
                let c = core::slice::from_raw_parts(src.add(4 * q), 4);
                let d = dst.add(q * Self::STEP_WORDS);
                d.write(pair(c[0], c[2]));
                d.add(1).write(pair(c[1], c[3]));
            }
        }
    }

    unsafe fn zero(dst: *mut u32, quads: usize, _offset: u32) {
        for q in 0..quads {
            // SAFETY: the caller's contract.
            unsafe {
                let d = dst.add(q * Self::STEP_WORDS);
                d.write(0);
                d.add(1).write(0);
            }
        }
    }
}

/// This target's tile kernel and im2col routines.
#[cfg(skipnet_cortex_m_dsp)]
type Target = cortex_m::CortexM;
#[cfg(not(skipnet_cortex_m_dsp))]
type Target = Portable;

/// The conv on the packed kernel (see the module doc): the output of
/// [`crate::ops::conv2d_int8::conv2d_int8_into`], bit for bit, written at
/// `out[p * layout.0 + layout.1..][..filters]`; `requantize` has one entry
/// per filter (its bias folded in), `input_zero_point` is the input's;
/// `scratch` holds at least [`scratch_bytes`].
///
/// # Panics
/// If `g.groups != 1`, or a length does not match the geometry.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_int8_packed(
    isa: Isa,
    g: &Conv2dGeom,
    x: &[i8],
    packed: &[i32],
    requantize: &[Requantize],
    input_zero_point: i32,
    out: &mut [i8],
    layout: (usize, usize),
    scratch: &mut [i8],
) {
    assert_eq!(x.len(), g.input.len(), "conv2d_int8: input length");
    let o = g.output;
    assert!(
        out.len() == o.h * o.w * layout.0,
        "conv2d_int8: output layout"
    );
    let io = Apart { x, out };
    packed_conv(
        isa,
        g,
        io,
        packed,
        requantize,
        input_zero_point,
        layout,
        scratch,
    );
}

/// The least distance in bytes by which a conv's input may start after
/// the start of its output in one buffer for [`conv2d_int8_over_input`] to
/// compute it (its output written `layout` as [`conv2d_int8_packed`]'s):
/// each block of [`PIXELS`] outputs is written after its inputs are
/// gathered, so a block may overwrite every input byte that no later
/// block reads. For a 2x nearest-upsampling 3x3 conv (a U-Net's last
/// decoder layer) that is a little more than half the output: its input
/// and output then take about a third less memory than side by side.
/// A `const fn`, so that [`OverInput::new`] checks a layout at compile
/// time (on a Cortex-M4 this loop costs 150,000 instructions per call).
pub const fn overwrite_gap(g: &Conv2dGeom, layout: (usize, usize)) -> usize {
    let pixels = g.output.h * g.output.w;
    if pixels == 0 {
        return 0;
    }
    let (mut gap, mut later) = (0, usize::MAX);
    // Blocks from the last: `later` is the first byte any pixel after the
    // block reads, and the block's writes must end at or below it.
    let mut first = (pixels - 1) / PIXELS * PIXELS;
    loop {
        let n = if pixels - first < PIXELS {
            pixels - first
        } else {
            PIXELS
        };
        if later != usize::MAX {
            let written_end = (first + n - 1) * layout.0 + layout.1 + g.output.c;
            if written_end > later && written_end - later > gap {
                gap = written_end - later;
            }
        }
        let mut p = first;
        while p < first + n {
            let read = first_read(g, p);
            if read < later {
                later = read;
            }
            p += 1;
        }
        if first == 0 {
            return gap;
        }
        first -= PIXELS;
    }
}

/// The first input byte output pixel `p` reads (`usize::MAX`: none, all of
/// its window is padding): rows before columns, the first inside row holds
/// it, at its first inside column.
const fn first_read(g: &Conv2dGeom, p: usize) -> usize {
    let (o, inp) = (g.output, g.input);
    let (oy, ox) = (p / o.w, p % o.w);
    let iy = first_inside(
        oy * g.strides.0,
        g.kernel.0,
        g.dilation.0,
        g.pad.0,
        inp.h * g.upsample.0,
    );
    let ix = first_inside(
        ox * g.strides.1,
        g.kernel.1,
        g.dilation.1,
        g.pad.1,
        inp.w * g.upsample.1,
    );
    match (iy, ix) {
        (Some(iy), Some(ix)) => ((iy / g.upsample.0) * inp.w + ix / g.upsample.1) * inp.c,
        _ => usize::MAX,
    }
}

/// The first of the `k` taps `start + t * d - pad` that lies in `0..n`.
const fn first_inside(start: usize, k: usize, d: usize, pad: usize, n: usize) -> Option<usize> {
    let mut t = 0;
    while t < k {
        let i = start + t * d;
        if i >= pad && i - pad < n {
            return Some(i - pad);
        }
        t += 1;
    }
    None
}

/// Where a conv computed over its input ([`conv2d_int8_over_input`]) finds
/// both in one buffer, checked when it is made (in a `const`, at compile
/// time): the input at `x_at`, the output, written `layout` as
/// [`conv2d_int8_packed`]'s, at `out_at`, at least [`overwrite_gap`]
/// before the input.
#[derive(Clone, Copy, Debug)]
pub struct OverInput {
    geom: Conv2dGeom,
    layout: (usize, usize),
    x_at: usize,
    out_at: usize,
}

impl OverInput {
    /// # Panics
    /// If the input starts less than [`overwrite_gap`] after the output (a
    /// compile error in a `const`).
    pub const fn new(geom: Conv2dGeom, layout: (usize, usize), x_at: usize, out_at: usize) -> Self {
        assert!(
            x_at >= out_at && x_at - out_at >= overwrite_gap(&geom, layout),
            "conv2d_int8_over_input: the input starts too close after the output"
        );
        OverInput {
            geom,
            layout,
            x_at,
            out_at,
        }
    }

    /// The conv's geometry.
    pub const fn geom(&self) -> &Conv2dGeom {
        &self.geom
    }
}

/// [`conv2d_int8_packed`] with its input and output in one buffer, as
/// `at` lays them: the output written over the input where it is no longer
/// read. The planner of a `#[quantized]` network lays a conv whose input
/// dies there this way when that makes the arena smaller.
///
/// # Panics
/// If a region does not fit in `buf`, or as [`conv2d_int8_packed`].
pub fn conv2d_int8_over_input(
    isa: Isa,
    at: &OverInput,
    buf: &mut [i8],
    packed: &[i32],
    requantize: &[Requantize],
    input_zero_point: i32,
    scratch: &mut [i8],
) {
    let (g, layout) = (&at.geom, at.layout);
    let (x_len, out_len) = (g.input.len(), g.output.h * g.output.w * layout.0);
    assert!(
        at.x_at + x_len <= buf.len() && at.out_at + out_len <= buf.len(),
        "conv2d_int8_over_input: a region is outside the buffer"
    );
    let io = Overlapping {
        buf,
        x_at: at.x_at,
        x_len,
        out_at: at.out_at,
    };
    packed_conv(
        isa,
        g,
        io,
        packed,
        requantize,
        input_zero_point,
        layout,
        scratch,
    );
}

/// Where [`packed_conv`] reads its input and writes its output: for each
/// block, the input borrowed for the gathers, then the output from the
/// block's first row for the stores.
trait ConvIo {
    fn input(&self) -> &[i8];
    /// The output from byte `at` of its layout to its end.
    fn output_from(&mut self, at: usize) -> &mut [i8];
}

/// Input and output in separate memory.
struct Apart<'a> {
    x: &'a [i8],
    out: &'a mut [i8],
}

impl ConvIo for Apart<'_> {
    fn input(&self) -> &[i8] {
        self.x
    }
    fn output_from(&mut self, at: usize) -> &mut [i8] {
        &mut self.out[at..]
    }
}

/// Input and output in one buffer ([`conv2d_int8_over_input`]).
struct Overlapping<'a> {
    buf: &'a mut [i8],
    x_at: usize,
    x_len: usize,
    out_at: usize,
}

impl ConvIo for Overlapping<'_> {
    fn input(&self) -> &[i8] {
        &self.buf[self.x_at..][..self.x_len]
    }
    fn output_from(&mut self, at: usize) -> &mut [i8] {
        &mut self.buf[self.out_at + at..]
    }
}

/// The packed conv (see [`conv2d_int8_packed`]) with the tile kernel for
/// `isa` ([`kernel`]); the output's length is checked by the caller.
#[allow(clippy::too_many_arguments)]
fn packed_conv(
    isa: Isa,
    g: &Conv2dGeom,
    io: impl ConvIo,
    packed: &[i32],
    requantize: &[Requantize],
    input_zero_point: i32,
    layout: (usize, usize),
    scratch: &mut [i8],
) {
    #[cfg(target_arch = "x86_64")]
    if avx2_for(isa) && bytes_take(g.output.c) {
        let block = checked_block(g, packed, requantize, layout, scratch);
        let (zp, rq) = (input_zero_point, requantize);
        // SAFETY: the CPU has what `vnni::available` checks (`vnni_for`), or AVX2
        // (`avx2_for`, which `vnni_for` implies); the lengths are checked
        // (`checked_block`) and the filters are few enough (`bytes_take`).
        unsafe {
            match vnni_for(isa) {
                true => vnni::conv(g, io, packed, rq, zp, layout, block),
                false => avx2::conv(g, io, packed, rq, zp, layout, block),
            }
        }
        return;
    }
    #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
    if neon_for(isa) {
        let (zp, rq) = (input_zero_point, requantize);
        if sdot_for(isa) && bytes_take(g.output.c) {
            let block = checked_block(g, packed, rq, layout, scratch);
            // SAFETY: the CPU has `dotprod` (`sdot_for`); the lengths are
            // checked (`checked_block`) and the filters are few enough
            // (`bytes_take`).
            unsafe { sdot::conv(g, io, packed, rq, zp, layout, block) };
            return;
        }
        return packed_loop::<neon::Neon>(g, io, packed, rq, zp, layout, scratch);
    }
    let _ = isa; // the target's own tile on other targets
    packed_loop::<Target>(g, io, packed, requantize, input_zero_point, layout, scratch);
}

/// Checks a packed conv's arguments (groups, geometry, packed kernel,
/// one requantization per filter, output layout) and returns the im2col
/// block: the aligned start of the scratch.
///
/// # Panics
/// If one does not match, or the scratch is shorter than [`scratch_bytes`].
// Inlined: the loops then know the block's length, and the gather's
// bounds assertion folds away (a call cost the Cortex-M4 count 26,000
// instructions per forward).
#[inline(always)]
fn checked_block<'s>(
    g: &Conv2dGeom,
    packed: &[i32],
    requantize: &[Requantize],
    layout: (usize, usize),
    scratch: &'s mut [i8],
) -> &'s mut [u32] {
    let o = g.output;
    assert!(supports(g), "conv2d_int8_packed: groups must be 1");
    crate::igemm::validate(g);
    assert_eq!(
        packed.len(),
        packed_kernel_words(g),
        "conv2d_int8: packed kernel length"
    );
    assert_eq!(
        requantize.len(),
        o.c,
        "conv2d_int8: one requantization per filter"
    );
    let (stride, offset) = layout;
    assert!(offset + o.c <= stride, "conv2d_int8: output layout");
    let block_words = PIXELS * 2 * padded_k(g) / 4;
    // SAFETY: every bit pattern is a valid u32; `align_to_mut` hands out
    // only the aligned middle of the scratch, which does not alias the rest.
    let (_, words, _) = unsafe { scratch.align_to_mut::<u32>() };
    assert!(words.len() >= block_words, "conv2d_int8: scratch length");
    &mut words[..block_words]
}

/// The packed conv's loop on tile kernel `K` (one this CPU runs).
fn packed_loop<K: TileKernel>(
    g: &Conv2dGeom,
    mut io: impl ConvIo,
    packed: &[i32],
    requantize: &[Requantize],
    input_zero_point: i32,
    layout: (usize, usize),
    scratch: &mut [i8],
) {
    let block = checked_block(g, packed, requantize, layout, scratch);
    let o = g.output;
    let (stride, offset) = layout;
    let quads = padded_k(g) / 4;
    let pixels = o.h * o.w;
    for first in (0..pixels).step_by(PIXELS) {
        let n = PIXELS.min(pixels - first);
        // A last block's missing pixels keep whatever the scratch held:
        // their sums are computed and never stored.
        let x = io.input();
        for slot in 0..n {
            gather::<Target>(g, x, input_zero_point, first + slot, block, slot);
        }
        // This block's rows of the output, from the layer's first channel
        // (the caller checked that the output holds `pixels` rows).
        let rows = io.output_from(first * stride + offset);
        let pairs = packed.chunks_exact(quads * 2).zip(requantize.chunks(2));
        for (pair, (w, rq)) in pairs.enumerate() {
            let mut acc = [0i32; 2 * PIXELS];
            // SAFETY: `block` holds `quads * PIXELS * 2` words and `w`
            // `quads * 2`, both word-aligned (u32 and i32 slices); `quads`
            // is a positive multiple of K_STEP / 4 (`padded_k`, and a conv
            // has at least one tap and channel, checked by `validate`); `K`
            // runs on this CPU (the portable tile anywhere, the Cortex-M one
            // where build.rs found the DSP extension, Advanced SIMD, part of
            // the AArch64 target; x86's tiles run in `bytes::conv` instead).
            unsafe {
                if n == 1 {
                    // A last lone pixel: half the work of a whole tile.
                    let mut one = [0i32; 2];
                    K::tile1(&mut one, block.as_ptr(), w.as_ptr(), quads);
                    acc[..2].copy_from_slice(&one);
                } else if rq.len() == 1 {
                    // The odd last filter: half the work too.
                    K::tile_odd(&mut acc, block.as_ptr(), w.as_ptr(), quads);
                } else {
                    K::tile(&mut acc, block.as_ptr(), w.as_ptr(), quads);
                }
            }
            for (j, r) in rq.iter().enumerate() {
                let at = 2 * pair + j;
                // SAFETY: `rows` holds this block's `n` rows of `stride`
                // bytes but the last, which holds at least `offset + o.c`
                // (the layout assertions: the output holds `pixels` rows
                // and `offset + o.c <= stride`), and `at < o.c`; `acc[j..]`
                // holds `2 n - 1` sums.
                unsafe { K::requantize(&acc[j..], r, rows.as_mut_ptr().add(at), stride, n) };
            }
        }
    }
}

#[cfg(test)]
mod tests;
