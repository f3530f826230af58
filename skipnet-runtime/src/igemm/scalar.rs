//! Portable tile kernel: 4 pixels x 16 filters, plain multiply-add.

use super::{driver, OutLayout, OutPtr, Part, PANEL};
use crate::ops::conv2d::Conv2dGeom;

pub(super) fn conv(
    g: &Conv2dGeom,
    x: &[f32],
    packed: &[f32],
    bias: Option<&[f32]>,
    out: &OutPtr<'_>,
    layout: OutLayout<'_>,
    part: Part,
) {
    driver!(g, x, packed, bias, out, layout, part, 4, 16, tile, 1, 2048, 0)
}

/// # Safety
/// Each `srcs` pointer is valid for `c_off + cin` reads; `b + t * tap_stride` for
/// `cin * PANEL` reads for every tap `t`.
#[inline(always)]
unsafe fn tile(
    srcs: &[[*const f32; 4]],
    c_off: usize,
    cin: usize,
    b: *const f32,
    tap_stride: usize,
    _panel_stride: usize,
    out: &mut [[f32; 16]; 4],
) {
    let mut acc = *out;
    for (ti, s) in srcs.iter().enumerate() {
        // SAFETY: tap `ti`'s rows start `ti * tap_stride` floats into the panel.
        let mut bp = unsafe { b.add(ti * tap_stride) };
        for ci in 0..cin {
            // SAFETY: `bp` stays within the caller's `srcs.len() * cin` panel rows.
            let brow: &[f32; PANEL] = unsafe { &*(bp as *const [f32; PANEL]) };
            // SAFETY: advancing inside the same bound.
            bp = unsafe { bp.add(PANEL) };
            for (acc_m, src) in acc.iter_mut().zip(s) {
                // SAFETY: `src` is valid for `c_off + cin` reads (caller's contract).
                let a = unsafe { *src.add(c_off + ci) };
                for (o, w) in acc_m.iter_mut().zip(brow) {
                    *o += a * w;
                }
            }
        }
    }
    *out = acc;
}

/// The AVX-512 kernel's blocking (8 pixels x two panels via `panel_stride`) in
/// portable code, so the 32-wide driver path is tested on any machine.
#[cfg(test)]
pub(super) fn conv_wide(
    g: &Conv2dGeom,
    x: &[f32],
    packed: &[f32],
    bias: Option<&[f32]>,
    out: &OutPtr<'_>,
    layout: OutLayout<'_>,
    part: Part,
) {
    driver!(g, x, packed, bias, out, layout, part, 8, 32, tile_wide, 3, 24, 4096)
}

/// # Safety
/// As [`tile`], and `b + panel_stride` also valid for the same reads.
#[cfg(test)]
#[inline(always)]
unsafe fn tile_wide(
    srcs: &[[*const f32; 8]],
    c_off: usize,
    cin: usize,
    b: *const f32,
    tap_stride: usize,
    panel_stride: usize,
    out: &mut [[f32; 32]; 8],
) {
    let mut acc = *out;
    for (ti, s) in srcs.iter().enumerate() {
        for ci in 0..cin {
            for half in 0..2 {
                // SAFETY: row `ci` of tap `ti` in panel `half` of the pair (caller's contract).
                let brow: &[f32; PANEL] = unsafe {
                    &*(b.add(ti * tap_stride + ci * PANEL + half * panel_stride)
                        as *const [f32; PANEL])
                };
                for (acc_m, src) in acc.iter_mut().zip(s) {
                    // SAFETY: `src` is valid for `c_off + cin` reads.
                    let a = unsafe { *src.add(c_off + ci) };
                    for (o, w) in acc_m[half * PANEL..][..PANEL].iter_mut().zip(brow) {
                        *o += a * w;
                    }
                }
            }
        }
    }
    *out = acc;
}

/// The Winograd products and output transform on the portable 4 x 16 tile.
pub(super) fn winograd_products(job: &crate::winograd::Job<'_>, part: crate::winograd::Part) {
    // SAFETY: `products_part` passes `tile` the pointers its contract asks
    // for; the portable tile needs no CPU feature.
    unsafe {
        crate::winograd::products_part::<4, 16>(job, part, |s, c, n, b, ts, ps, acc| {
            tile(s, c, n, b, ts, ps, acc)
        })
    }
}
