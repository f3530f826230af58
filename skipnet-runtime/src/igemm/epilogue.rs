//! The conv epilogue shared by the direct driver and Winograd: bias,
//! activation, residuals and post-activation of one run of a pixel's
//! filters, applied to a tile's accumulators while they sit in a fixed-size
//! array (registers or L1), so that the output is written exactly once.
//!
//! Applying the steps one after another on the output row itself (as the
//! driver did) read back every row it had just written, a cache line that a
//! big layer's output (MobileNetV2's 112x112x96) has in no cache: the
//! reload waited on the line's fill and cost more than the tile's
//! multiply-adds (`perf annotate`: 40% of a 1x1 conv on one compare).

use super::OutLayout;
use crate::Activation;

/// `src` (at most `N` floats) in a zero-padded array: whole arrays are what
/// the compiler vectorizes.
#[inline(always)]
pub(crate) fn load_lanes<const N: usize>(src: &[f32]) -> [f32; N] {
    match <&[f32; N]>::try_from(src) {
        Ok(a) => *a,
        Err(_) => {
            let mut a = [0.0; N];
            for (d, s) in a.iter_mut().zip(src) {
                *d = *s;
            }
            a
        }
    }
}

/// `dst = src` (equal lengths) without a call to `memcpy` for the runs that
/// matter: 16 or 32 floats (a tile's width), where the call costs more than
/// the copy, are copied as arrays (vector moves). Other lengths go through
/// [`copy_other`], kept out of line: inlined, LLVM sees that every branch
/// copies `len` floats and merges them all into one `memcpy` call (`perf`
/// found a fifth of a 1x1 conv's time in it).
#[inline(always)]
pub(crate) fn copy_run(dst: &mut [f32], src: &[f32]) {
    debug_assert_eq!(dst.len(), src.len());
    if let (Ok(d), Ok(s)) = (
        <&mut [f32; 32]>::try_from(&mut *dst),
        <&[f32; 32]>::try_from(src),
    ) {
        *d = *s;
    } else if let (Ok(d), Ok(s)) = (
        <&mut [f32; 16]>::try_from(&mut *dst),
        <&[f32; 16]>::try_from(src),
    ) {
        *d = *s;
    } else {
        copy_other(dst, src);
    }
}

/// The other lengths of [`copy_run`].
#[inline(never)]
fn copy_other(dst: &mut [f32], src: &[f32]) {
    dst.copy_from_slice(src);
}

/// The finished outputs of one pixel's run of `row.len()` (at most `N`)
/// filters: `row = post(activation(y + bias) [+ row] + residuals...)`, where
/// `row` is added when `layout.accumulate` (it holds a residual), and
/// `residual_at` is the run's offset in each of `layout.residual`. All `N`
/// lanes are computed (those past the run hold don't-care values and are not
/// stored).
#[inline(always)]
pub(crate) fn epilogue<const N: usize>(
    row: &mut [f32],
    y: &[f32; N],
    bias: Option<&[f32]>,
    activation: Activation,
    layout: &OutLayout<'_>,
    residual_at: usize,
) {
    let n = row.len();
    let mut t = *y;
    if let Some(b) = bias {
        let b = load_lanes::<N>(b);
        for (t, b) in t.iter_mut().zip(b) {
            *t += b;
        }
    }
    let mut t = activation.map_inline(&t);
    if layout.accumulate {
        let r = load_lanes::<N>(row);
        for (t, r) in t.iter_mut().zip(r) {
            *t += r;
        }
    }
    for r in layout.residual {
        let r = load_lanes::<N>(&r[residual_at..][..n]);
        for (t, r) in t.iter_mut().zip(r) {
            *t += r;
        }
    }
    let t = layout.post.map_inline(&t);
    copy_run(row, &t[..n]);
}
