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
//! ARMv8-M mainline).

#[cfg(skipnet_cortex_m_dsp)]
mod cortex_m;

use crate::geom::Conv2dGeom;
use crate::ops::conv2d_int8::Conv2dInt8Quant;

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

/// A tile kernel: adds to `acc` (pixel-major, `[p0 f0, p0 f1, p1 f0, ...]`)
/// the products of `quads` steps of four `k` of the im2col block `a`
/// ([`PIXELS`] x 2 words per step) and the filter pair's packed words `w`
/// (2 per step).
pub trait TileKernel {
    /// # Safety
    /// `a` holds `quads * PIXELS * 2` words and `w` `quads * 2`, both
    /// word-aligned; `quads` is a positive multiple of `K_STEP / 4`.
    unsafe fn tile(acc: &mut [i32; 2 * PIXELS], a: *const u32, w: *const i32, quads: usize);
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

/// The fastest tile kernel this target has.
#[cfg(skipnet_cortex_m_dsp)]
type Best = cortex_m::CortexM;
#[cfg(not(skipnet_cortex_m_dsp))]
type Best = Portable;

/// Which tile kernel [`conv2d_int8_packed`] runs on this target.
pub const KERNEL: &str = if cfg!(skipnet_cortex_m_dsp) {
    "cortex-m (SMLAD)"
} else {
    "portable"
};

/// Writes pixel `slot`'s column of the im2col block: the output pixel
/// `pix`'s receptive field as 16-bit `x - zp` (0 where the window is off
/// the input, and in the reduction's padding).
fn gather(g: &Conv2dGeom, x: &[i8], zp: i32, pix: usize, block: &mut [u32], slot: usize) {
    let (inp, o, cin) = (g.input, g.output, g.input.c);
    let (h_up, w_up) = (inp.h * g.upsample.0, inp.w * g.upsample.1);
    let (oy, ox) = (pix / o.w, pix % o.w);
    let kp = padded_k(g);
    // The halfword of `k` in this pixel's column (see the module doc).
    let put = |block: &mut [u32], k: usize, v: i32| {
        let word = &mut block[(k / 4) * PIXELS * 2 + slot * 2 + (k % 4) % 2];
        let shift = 16 * ((k % 4) / 2);
        *word = (*word & !(0xFFFF << shift)) | (((v as u16) as u32) << shift);
    };
    let mut k = 0;
    for ky in 0..g.kernel.0 {
        let iy = (oy * g.strides.0 + ky * g.dilation.0) as isize - g.pad.0 as isize;
        for kx in 0..g.kernel.1 {
            let ix = (ox * g.strides.1 + kx * g.dilation.1) as isize - g.pad.1 as isize;
            let inside = iy >= 0 && (iy as usize) < h_up && ix >= 0 && (ix as usize) < w_up;
            if !inside {
                zero_run(block, slot, k, cin);
                k += cin;
                continue;
            }
            let (sy, sx) = (iy as usize / g.upsample.0, ix as usize / g.upsample.1);
            let src = &x[(sy * inp.w + sx) * cin..][..cin];
            if k % 4 == 0 && cin % 4 == 0 {
                widen_run(block, slot, k, src, zp);
            } else {
                for (i, &v) in src.iter().enumerate() {
                    put(block, k + i, i32::from(v) - zp);
                }
            }
            k += cin;
        }
    }
    for kk in k..kp {
        put(block, kk, 0);
    }
}

/// Zeros `n` values of column `slot` from `k`.
fn zero_run(block: &mut [u32], slot: usize, k: usize, n: usize) {
    if k % 4 == 0 && n % 4 == 0 {
        for q in k / 4..(k + n) / 4 {
            let at = q * PIXELS * 2 + slot * 2;
            block[at] = 0;
            block[at + 1] = 0;
        }
        return;
    }
    for kk in k..k + n {
        let word = &mut block[(kk / 4) * PIXELS * 2 + slot * 2 + (kk % 4) % 2];
        *word &= !(0xFFFF << (16 * ((kk % 4) / 2)));
    }
}

/// `src` (a multiple of four channels, from `k`, a multiple of four) into
/// column `slot` as 16-bit `x - zp` pairs.
#[inline]
fn widen_run(block: &mut [u32], slot: usize, k: usize, src: &[i8], zp: i32) {
    #[cfg(skipnet_cortex_m_dsp)]
    {
        cortex_m::widen_run(block, slot, k, src, zp);
    }
    #[cfg(not(skipnet_cortex_m_dsp))]
    {
        let pair = |a: i8, b: i8| {
            let lo = (i32::from(a) - zp) as u16 as u32;
            let hi = (i32::from(b) - zp) as u16 as u32;
            lo | (hi << 16)
        };
        for (q, c) in src.chunks_exact(4).enumerate() {
            let at = (k / 4 + q) * PIXELS * 2 + slot * 2;
            block[at] = pair(c[0], c[2]);
            block[at + 1] = pair(c[1], c[3]);
        }
    }
}

/// The conv on the packed kernel (see the module doc): the output of
/// [`crate::ops::conv2d_int8::conv2d_int8_into`], bit for bit, written at
/// `out[p * layout.0 + layout.1..][..filters]`; `scratch` holds at least
/// [`scratch_bytes`].
///
/// # Panics
/// If `g.groups != 1`, or a length does not match the geometry.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_int8_packed(
    g: &Conv2dGeom,
    x: &[i8],
    packed: &[i32],
    bias: Option<&[i32]>,
    q: &Conv2dInt8Quant<'_>,
    out: &mut [i8],
    layout: (usize, usize),
    scratch: &mut [i8],
) {
    let o = g.output;
    assert!(supports(g), "conv2d_int8_packed: groups must be 1");
    crate::igemm::validate(g);
    assert_eq!(x.len(), g.input.len(), "conv2d_int8: input length");
    assert_eq!(
        packed.len(),
        packed_kernel_words(g),
        "conv2d_int8: packed kernel length"
    );
    assert_eq!(
        q.multipliers.len(),
        o.c,
        "conv2d_int8: one multiplier per filter"
    );
    if let Some(b) = bias {
        assert_eq!(b.len(), o.c, "conv2d_int8: bias length");
    }
    let (stride, offset) = layout;
    assert!(
        offset + o.c <= stride && out.len() == o.h * o.w * stride,
        "conv2d_int8: output layout"
    );
    let kp = padded_k(g);
    let block_words = PIXELS * 2 * kp / 4;
    // SAFETY: every bit pattern is a valid u32; `align_to_mut` hands out
    // only the aligned middle of the scratch, which does not alias the rest.
    let (_, words, _) = unsafe { scratch.align_to_mut::<u32>() };
    assert!(words.len() >= block_words, "conv2d_int8: scratch length");
    let block = &mut words[..block_words];
    let quads = kp / 4;
    let pixels = o.h * o.w;
    for first in (0..pixels).step_by(PIXELS) {
        let n = PIXELS.min(pixels - first);
        for slot in 0..PIXELS {
            match slot < n {
                true => gather(g, x, q.input_zero_point, first + slot, block, slot),
                false => zero_run(block, slot, 0, kp),
            }
        }
        for (pair, w) in packed.chunks_exact(quads * 2).enumerate() {
            let mut acc = [0i32; 2 * PIXELS];
            // SAFETY: `block` holds `quads * PIXELS * 2` words and `w`
            // `quads * 2`, both word-aligned (u32 and i32 slices); `quads`
            // is a positive multiple of K_STEP / 4 (`padded_k`, and a conv
            // has at least one tap and channel, checked by `validate`).
            unsafe { Best::tile(&mut acc, block.as_ptr(), w.as_ptr(), quads) };
            for p in 0..n {
                let row = (first + p) * stride + offset;
                for j in 0..2 {
                    let f = 2 * pair + j;
                    if f >= o.c {
                        break;
                    }
                    let mut v = acc[2 * p + j];
                    if let Some(b) = bias {
                        v = v.wrapping_add(b[f]);
                    }
                    let v = q.multipliers[f].apply(v).wrapping_add(q.output_zero_point);
                    out[row + f] = v.clamp(q.clamp.0, q.clamp.1).clamp(-128, 127) as i8;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
