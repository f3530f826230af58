//! Portable tile kernel: 4 pixels x 16 filters, plain multiply-add, no
//! row-merge window (the stack may be a microcontroller's).

use super::driver::{blocking, drive, Kernel};
use super::{ConvArgs, IsaKernels, Part, PANEL};
use crate::winograd;

pub(super) const KERNELS: IsaKernels = IsaKernels {
    conv,
    blocking: |_| blocking(&Portable),
    winograd_input: winograd::input_part,
    winograd_products,
};

/// # Safety
/// [`drive`]'s preconditions (no CPU feature needed).
unsafe fn conv(a: &ConvArgs<'_>, part: Part) {
    // SAFETY: this function's contract.
    unsafe { drive(Portable, a, part) }
}

/// 4 pixels x one panel of 16 filters.
struct Portable;

impl Kernel<4, 16, 1, 0> for Portable {
    const KC: usize = 2048;

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
}

/// The AVX-512 kernel's blocking (8 pixels x two panels via
/// `panel_stride`, a row-merge window) in portable code, so the 32-wide
/// driver paths are tested on any machine.
#[cfg(test)]
pub(super) fn conv_wide(a: &ConvArgs<'_>, part: Part) {
    // SAFETY: no CPU feature needed; the test passes checked lengths.
    unsafe { drive(PortableWide, a, part) }
}

#[cfg(test)]
struct PortableWide;

#[cfg(test)]
impl Kernel<8, 32, 3, 4096> for PortableWide {
    const KC: usize = 24;

    #[inline(always)]
    unsafe fn tile(
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
}

/// The Winograd products and output transform on the portable 4 x 16 tile.
///
/// # Safety
/// None needed (an `unsafe fn` to fit the table).
unsafe fn winograd_products(job: &winograd::Job<'_>, part: winograd::Part) {
    // SAFETY: the portable tile needs no CPU feature.
    unsafe { winograd::products_part(Portable, job, part) }
}
