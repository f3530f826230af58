//! AVX-512 convolutions with at most 4 filters (an RGB or mask head, a
//! U-Net's last layer): the reduction in the vector lanes. The register
//! tiles put filters in the lanes, so a 3-filter layer used 3 of a tile's 8
//! or 16 columns (the seed U-Net's `output`, 3x3 over 32 channels to RGB,
//! ran at 33 GFLOP/s, 11% of the network's time). Here each accumulator
//! holds 16 input channels of one pixel and one filter, every lane useful
//! when the channels are a multiple of 16; a horizontal sum per output
//! finishes it, then the shared portable epilogue.
//!
//! A tile is [`P`] pixels x `NF` filters: per 16 channels of a tap, `P`
//! input loads and `NF` weight loads feed `P * NF` multiply-adds. The
//! weights are first copied so that each filter's reduction is contiguous
//! (the packed panel interleaves 16 filters per reduction step).

use super::driver::clamp;
use super::epilogue::epilogue;
use super::{k_len, ConvArgs, Part, MAX_CIN, PANEL, ZEROS};
use crate::geom::Conv2dGeom;
use core::arch::x86_64::*;

/// Filters at most.
const MAX_FILTERS: usize = 4;

/// Floats of the contiguous weight copy, on the stack (16 KiB): a 3x3
/// layer of up to 113 input channels at 4 filters, 455 at 1.
const MAX_WEIGHTS: usize = 4096;

/// Pixels per tile: with 4 filters, 24 of the 32 `zmm` registers hold sums.
pub(super) const P: usize = 6;

/// Whether [`conv`] computes this layer: one group of at most
/// [`MAX_FILTERS`] filters, at least 16 input channels (fewer would leave
/// lanes idle), and a reduction whose weights fit [`MAX_WEIGHTS`].
pub(super) fn applies(g: &Conv2dGeom) -> bool {
    g.groups == 1
        && g.output.c <= MAX_FILTERS
        && g.input.c >= 16
        && g.input.c <= MAX_CIN
        && k_len(g) * g.output.c <= MAX_WEIGHTS
}

/// Computes `part` of the conv.
///
/// # Safety
/// The CPU supports AVX-512F (and what `avx512f` implies); [`applies`]
/// holds for `a.g`; `a` has passed the checks of [`super::conv_on`]
/// (operand lengths, packed kernel, output layout).
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
pub(super) unsafe fn conv(a: &ConvArgs<'_>, part: Part) {
    // SAFETY: this function's contract.
    unsafe {
        match a.g.output.c {
            1 => run::<1>(a, part),
            2 => run::<2>(a, part),
            3 => run::<3>(a, part),
            _ => run::<4>(a, part),
        }
    }
}

/// [`conv`] for `NF` filters.
///
/// # Safety
/// As [`conv`], and `NF == a.g.output.c`.
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
#[inline]
unsafe fn run<const NF: usize>(a: &ConvArgs<'_>, part: Part) {
    let g = a.g;
    let (i, o) = (g.input, g.output);
    let (cin, k) = (i.c, k_len(g));
    debug_assert_eq!(part.n, (0, NF), "fewer filters than a split unit");
    // Filter `f`'s weights at `w[f * k..][..k]` (reduction step `kk` is tap
    // `kk / cin`, channel `kk % cin`, as in the packed panel).
    let mut w = [0.0f32; MAX_WEIGHTS];
    for (kk, row) in a.packed.chunks_exact(PANEL).take(k).enumerate() {
        for (f, &v) in row[..NF].iter().enumerate() {
            w[f * k + kk] = v;
        }
    }
    let (hu, wu) = (i.h * g.upsample.0, i.w * g.upsample.1);
    // Divisions by the upsampling factors only where there are some: per
    // pixel and tap they would cost more than the multiply-adds.
    let upsampled = g.upsample != (1, 1);
    // Input rows and columns past a window's first that its taps reach.
    let (span_y, span_x) = (
        (g.kernel.0 - 1) * g.dilation.0,
        (g.kernel.1 - 1) * g.dilation.1,
    );
    // The last `cin % 16` channels: masked loads.
    let tail = (cin % 16) as u32;
    let tail_mask: __mmask16 = ((1u32 << tail) - 1) as __mmask16;
    let layout = &a.layout;
    // Bias and clamps for the inline epilogue (no residual, no in-place add,
    // linear, relu or relu6 before and after).
    let mut bias = [0.0f32; MAX_FILTERS];
    if let Some(b) = a.bias {
        bias[..NF].copy_from_slice(&b[..NF]);
    }
    let clamps = match (g.activation.clamp_bounds(), layout.post.clamp_bounds()) {
        (Some(act), Some(post)) if layout.residual.is_empty() && !layout.accumulate => {
            Some((act, post))
        }
        _ => None,
    };
    let mut m = part.m.0;
    while m < part.m.1 {
        let np = P.min(part.m.1 - m);
        let mut acc = [_mm512_setzero_ps(); P * MAX_FILTERS];
        // Each pixel's first tap, in the (upsampled) input frame before
        // padding (negative in the padding): two divisions per pixel, not
        // per tap (per tap they cost more than the multiply-adds).
        let mut corner = [(0isize, 0isize); P];
        for (p, c) in corner[..np].iter_mut().enumerate() {
            let (oy, ox) = ((m + p) / o.w, (m + p) % o.w);
            *c = (
                (oy * g.strides.0) as isize - g.pad.0 as isize,
                (ox * g.strides.1) as isize - g.pad.1 as isize,
            );
        }
        // A whole tile whose every tap reads inside the input (no padding,
        // no upsample): each pixel's tap `(ky, kx)` is its first tap's
        // pointer plus a fixed offset, no per-tap bounds arithmetic.
        let mut first = [ZEROS.as_ptr(); P];
        let mut interior = np == P && !upsampled;
        for (f, &(y0, x0)) in first.iter_mut().zip(&corner) {
            interior &=
                y0 >= 0 && x0 >= 0 && y0 as usize + span_y < i.h && x0 as usize + span_x < i.w;
            if interior {
                *f = a.x[(y0 as usize * i.w + x0 as usize) * cin..].as_ptr();
            }
        }
        for ky in 0..g.kernel.0 {
            for kx in 0..g.kernel.1 {
                // Each pixel's input channels for this tap: the zero row in
                // the padding and past the part (`cin <= MAX_CIN`).
                let mut src = [ZEROS.as_ptr(); P];
                if interior {
                    let off = (ky * g.dilation.0 * i.w + kx * g.dilation.1) * cin;
                    for (s, f) in src.iter_mut().zip(&first) {
                        // Inside `x`: the window of every pixel is (`interior`).
                        *s = f.wrapping_add(off);
                    }
                } else {
                    let (dy, dx) = ((ky * g.dilation.0) as isize, (kx * g.dilation.1) as isize);
                    for (s, &(y0, x0)) in src[..np].iter_mut().zip(&corner[..np]) {
                        let (iy, ix) = (y0 + dy, x0 + dx);
                        if iy >= 0 && ix >= 0 && (iy as usize) < hu && (ix as usize) < wu {
                            let (mut iy, mut ix) = (iy as usize, ix as usize);
                            if upsampled {
                                (iy, ix) = (iy / g.upsample.0, ix / g.upsample.1);
                            }
                            *s = a.x[(iy * i.w + ix) * cin..][..cin].as_ptr();
                        }
                    }
                }
                let wt = w[(ky * g.kernel.1 + kx) * cin..].as_ptr();
                // SAFETY: every `src` row holds `cin` floats; filter `f`'s
                // run of this tap, `wt + f * k`, too (`tap * cin + cin <=
                // k`, `f < NF`, `NF * k <= MAX_WEIGHTS`).
                unsafe { tap_sums::<NF>(&src, wt, k, cin, tail_mask, &mut acc) };
            }
        }
        for p in 0..np {
            let mut y = [0.0f32; MAX_FILTERS];
            for (f, y) in y[..NF].iter_mut().enumerate() {
                *y = _mm512_reduce_add_ps(acc[p * NF + f]);
            }
            let pix = m + p;
            // SAFETY: pixel `pix` is in this task's part, whose output
            // elements no other task writes (`OutPtr::row`'s contract).
            let row = unsafe { a.out.row(pix * layout.stride + layout.offset, NF) };
            match clamps {
                // The common case inline (the shared epilogue's calls cost
                // as much as a pixel's multiply-adds).
                Some((act, post)) => {
                    for (f, r) in row.iter_mut().enumerate() {
                        *r = clamp(clamp(y[f] + bias[f], act), post);
                    }
                }
                None => epilogue::<MAX_FILTERS>(row, &y, a.bias, g.activation, layout, pix * o.c),
            }
        }
        m += np;
    }
}

/// Adds one tap's products to `acc` (`acc[p * NF + f]`: pixel `p`, filter
/// `f`, 16 channels per lane group): channels `0..cin` of each pixel's
/// `src` row times each filter's weights `wt + f * k`.
///
/// # Safety
/// AVX-512F; each `src[p]` and each `wt + f * k` (`f < NF`) valid for `cin`
/// reads; `tail_mask` has the low `cin % 16` bits set.
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
#[inline]
unsafe fn tap_sums<const NF: usize>(
    src: &[*const f32; P],
    wt: *const f32,
    k: usize,
    cin: usize,
    tail_mask: __mmask16,
    acc: &mut [__m512; P * MAX_FILTERS],
) {
    let mut c = 0;
    while c + 16 <= cin {
        // SAFETY: `c + 16 <= cin` floats of every row (the contract).
        unsafe {
            let mut wv = [_mm512_setzero_ps(); MAX_FILTERS];
            for (f, w) in wv[..NF].iter_mut().enumerate() {
                *w = _mm512_loadu_ps(wt.add(f * k + c));
            }
            for p in 0..P {
                let xv = _mm512_loadu_ps(src[p].add(c));
                for f in 0..NF {
                    acc[p * NF + f] = _mm512_fmadd_ps(xv, wv[f], acc[p * NF + f]);
                }
            }
        }
        c += 16;
    }
    if c < cin {
        // SAFETY: the masked lanes are the rows' last `cin - c` floats;
        // masked-off lanes never fault.
        unsafe {
            let mut wv = [_mm512_setzero_ps(); MAX_FILTERS];
            for (f, w) in wv[..NF].iter_mut().enumerate() {
                *w = _mm512_maskz_loadu_ps(tail_mask, wt.add(f * k + c));
            }
            for p in 0..P {
                let xv = _mm512_maskz_loadu_ps(tail_mask, src[p].add(c));
                for f in 0..NF {
                    acc[p * NF + f] = _mm512_fmadd_ps(xv, wv[f], acc[p * NF + f]);
                }
            }
        }
    }
}
