//! Cortex-M tile kernel (M4F, M7F, M33, M55: a single-precision FPU with
//! `vfma.f32` and 32 `s` registers, no SIMD): the portable kernel's 4 x 16
//! tile keeps 64 sums and spills most of them to the stack around every
//! multiply-add (3.5 instructions per multiply-add on the seed U-Net). This
//! one computes its 2 pixels x 16 filters as two halves of 2 x 8: 16 sums in
//! `s0-s15` for a half's whole reduction, 8 weights in `s16-s23` (one
//! `vldmia` per channel), four channels of each pixel in `s24-s27` and
//! `s28-s31` (one `vldmia` per pixel per four channels): 64 `vfma` for 12
//! other instructions in the inner loop. Written in assembly because the
//! register assignment is the whole point and `vfma` has no stable Rust
//! intrinsic on this target (LLVM turns `a * b + c` into the unfused `vmla`).
//!
//! Compiled only where build.rs sets `skipnet_cortex_m_fpu`; tested on the
//! device under QEMU (`examples/embedded`'s `kernel-check` firmware, run by
//! `.ci/run`), against a float64 loop on random geometries.

use super::driver::{blocking, drive, Kernel};
use super::{ConvArgs, IsaKernels, Part, MAX_CIN, PANEL, TAPS_PER_PASS};
use crate::winograd;
use core::arch::asm;

pub(super) const KERNELS: IsaKernels = IsaKernels {
    conv,
    blocking: |_| blocking(&Tile2x16),
    winograd_input: winograd::input_part,
    winograd_products,
};

/// # Safety
/// [`drive`]'s preconditions (the FPU is part of the target).
unsafe fn conv(a: &ConvArgs<'_>, part: Part) {
    // SAFETY: this function's contract.
    unsafe { drive(Tile2x16, a, part) }
}

/// 2 pixels x one panel of 16 filters, as two 2 x 8 halves.
struct Tile2x16;

impl Kernel<2, 16, 2, 0> for Tile2x16 {
    // No cache to block for on a Cortex-M4 (and a small one on an M7): the
    // whole pass is one chunk, so every layer takes the single-chunk path.
    const KC: usize = TAPS_PER_PASS * MAX_CIN;

    #[inline(always)]
    unsafe fn tile(
        srcs: &[[*const f32; 2]],
        c_off: usize,
        cin: usize,
        b: *const f32,
        tap_stride: usize,
        _panel_stride: usize,
        out: &mut [[f32; 16]; 2],
    ) {
        if srcs.is_empty() || cin == 0 {
            return;
        }
        for half in 0..2 {
            // SAFETY: the caller's contract: `srcs` pointers valid for
            // `c_off + cin` reads, each tap's `cin` weight rows of `PANEL`
            // floats at `b + t * tap_stride` (this half reads 8 of each row);
            // `out` is the tile's own 2 x 16 sums.
            unsafe {
                half_2x8(
                    srcs.as_ptr().cast(),
                    srcs.len(),
                    c_off,
                    cin,
                    b.add(half * 8),
                    tap_stride,
                    // From the whole tile: the half's second row is written too.
                    out.as_mut_ptr().cast::<f32>().add(half * 8),
                )
            };
        }
    }
}

/// Adds to the 2 x 8 sums at `acc` (pixel 0's eight, then pixel 1's
/// [`PANEL`] floats later) the products over `taps` taps: tap `t`'s pixel
/// pointers are `srcs[2 t]`, `srcs[2 t + 1]` (each read from `c_off` for
/// `cin` floats), its weights `cin` rows of 8 floats, [`PANEL`] apart, from
/// `w + t * tap_stride`.
///
/// # Safety
/// `taps >= 1`, `cin >= 1`; the reads above are in bounds; `acc` and
/// `acc + PANEL` are valid for 8 reads and writes.
#[inline(always)]
unsafe fn half_2x8(
    srcs: *const *const f32,
    taps: usize,
    c_off: usize,
    cin: usize,
    w: *const f32,
    tap_stride: usize,
    acc: *mut f32,
) {
    // Bytes from the end of one tap's rows to the next tap's first row
    // (wrapping: after the last tap the pointer is advanced, never read, and
    // a one-tap caller such as Winograd's products may pass any stride).
    let tap_skip = tap_stride.wrapping_sub(cin * PANEL).wrapping_mul(4);
    // SAFETY: the function's contract. The sums are loaded from and stored
    // back to `acc` here (every `s` register is declared clobbered; the
    // compiler saves the callee-saved `s16-s31`); `srcs` and `w` are
    // advanced through their ranges only.
    unsafe {
        asm!(
        "vldmia {acc}, {{s0-s7}}",
        "add {p0}, {acc}, #64",
        "vldmia {p0}, {{s8-s15}}",
        // Per tap: its two pixel pointers, moved to channel `c_off`.
        "2:",
        "ldr {p1}, [{srcs}, #4]",
        "ldr {p0}, [{srcs}], #8",
        "add {p0}, {p0}, {coff}",
        "add {p1}, {p1}, {coff}",
        "lsrs {n}, {cin}, #2",
        "beq 4f",
        // Four channels per iteration.
        "3:",
        "vldmia {p0}!, {{s24-s27}}",
        "vldmia {p1}!, {{s28-s31}}",
        // Channel 0 of the four.
        "vldmia {w}, {{s16-s23}}",
        "add {w}, {w}, #64",
        "vfma.f32 s0, s24, s16",
        "vfma.f32 s1, s24, s17",
        "vfma.f32 s2, s24, s18",
        "vfma.f32 s3, s24, s19",
        "vfma.f32 s4, s24, s20",
        "vfma.f32 s5, s24, s21",
        "vfma.f32 s6, s24, s22",
        "vfma.f32 s7, s24, s23",
        "vfma.f32 s8, s28, s16",
        "vfma.f32 s9, s28, s17",
        "vfma.f32 s10, s28, s18",
        "vfma.f32 s11, s28, s19",
        "vfma.f32 s12, s28, s20",
        "vfma.f32 s13, s28, s21",
        "vfma.f32 s14, s28, s22",
        "vfma.f32 s15, s28, s23",
        // Channel 1 of the four.
        "vldmia {w}, {{s16-s23}}",
        "add {w}, {w}, #64",
        "vfma.f32 s0, s25, s16",
        "vfma.f32 s1, s25, s17",
        "vfma.f32 s2, s25, s18",
        "vfma.f32 s3, s25, s19",
        "vfma.f32 s4, s25, s20",
        "vfma.f32 s5, s25, s21",
        "vfma.f32 s6, s25, s22",
        "vfma.f32 s7, s25, s23",
        "vfma.f32 s8, s29, s16",
        "vfma.f32 s9, s29, s17",
        "vfma.f32 s10, s29, s18",
        "vfma.f32 s11, s29, s19",
        "vfma.f32 s12, s29, s20",
        "vfma.f32 s13, s29, s21",
        "vfma.f32 s14, s29, s22",
        "vfma.f32 s15, s29, s23",
        // Channel 2 of the four.
        "vldmia {w}, {{s16-s23}}",
        "add {w}, {w}, #64",
        "vfma.f32 s0, s26, s16",
        "vfma.f32 s1, s26, s17",
        "vfma.f32 s2, s26, s18",
        "vfma.f32 s3, s26, s19",
        "vfma.f32 s4, s26, s20",
        "vfma.f32 s5, s26, s21",
        "vfma.f32 s6, s26, s22",
        "vfma.f32 s7, s26, s23",
        "vfma.f32 s8, s30, s16",
        "vfma.f32 s9, s30, s17",
        "vfma.f32 s10, s30, s18",
        "vfma.f32 s11, s30, s19",
        "vfma.f32 s12, s30, s20",
        "vfma.f32 s13, s30, s21",
        "vfma.f32 s14, s30, s22",
        "vfma.f32 s15, s30, s23",
        // Channel 3 of the four.
        "vldmia {w}, {{s16-s23}}",
        "add {w}, {w}, #64",
        "vfma.f32 s0, s27, s16",
        "vfma.f32 s1, s27, s17",
        "vfma.f32 s2, s27, s18",
        "vfma.f32 s3, s27, s19",
        "vfma.f32 s4, s27, s20",
        "vfma.f32 s5, s27, s21",
        "vfma.f32 s6, s27, s22",
        "vfma.f32 s7, s27, s23",
        "vfma.f32 s8, s31, s16",
        "vfma.f32 s9, s31, s17",
        "vfma.f32 s10, s31, s18",
        "vfma.f32 s11, s31, s19",
        "vfma.f32 s12, s31, s20",
        "vfma.f32 s13, s31, s21",
        "vfma.f32 s14, s31, s22",
        "vfma.f32 s15, s31, s23",
        "subs {n}, {n}, #1",
        "bne 3b",
        // The channels left over, one at a time.
        "4:",
        "ands {n}, {cin}, #3",
        "beq 6f",
        "5:",
        "vldmia {p0}!, {{s24}}",
        "vldmia {p1}!, {{s28}}",
        "vldmia {w}, {{s16-s23}}",
        "add {w}, {w}, #64",
        "vfma.f32 s0, s24, s16",
        "vfma.f32 s1, s24, s17",
        "vfma.f32 s2, s24, s18",
        "vfma.f32 s3, s24, s19",
        "vfma.f32 s4, s24, s20",
        "vfma.f32 s5, s24, s21",
        "vfma.f32 s6, s24, s22",
        "vfma.f32 s7, s24, s23",
        "vfma.f32 s8, s28, s16",
        "vfma.f32 s9, s28, s17",
        "vfma.f32 s10, s28, s18",
        "vfma.f32 s11, s28, s19",
        "vfma.f32 s12, s28, s20",
        "vfma.f32 s13, s28, s21",
        "vfma.f32 s14, s28, s22",
        "vfma.f32 s15, s28, s23",
        "subs {n}, {n}, #1",
        "bne 5b",
        "6:",
        "add {w}, {w}, {skip}",
        "subs {taps}, {taps}, #1",
        "bne 2b",
        "vstmia {acc}, {{s0-s7}}",
        "add {p0}, {acc}, #64",
        "vstmia {p0}, {{s8-s15}}",
        acc = in(reg) acc,
        srcs = inout(reg) srcs => _,
        taps = inout(reg) taps => _,
        coff = in(reg) c_off * 4,
        cin = in(reg) cin,
        w = inout(reg) w => _,
        skip = in(reg) tap_skip,
        p0 = out(reg) _,
        p1 = out(reg) _,
        n = out(reg) _,
        out("s0") _, out("s1") _, out("s2") _, out("s3") _,
        out("s4") _, out("s5") _, out("s6") _, out("s7") _,
        out("s8") _, out("s9") _, out("s10") _, out("s11") _,
        out("s12") _, out("s13") _, out("s14") _, out("s15") _,
        out("s16") _, out("s17") _, out("s18") _, out("s19") _,
        out("s20") _, out("s21") _, out("s22") _, out("s23") _,
        out("s24") _, out("s25") _, out("s26") _, out("s27") _,
        out("s28") _, out("s29") _, out("s30") _, out("s31") _,
        options(nostack),
        );
    }
}

/// The Winograd products and output transform on the 2 x 16 tile.
///
/// # Safety
/// None beyond the target (an `unsafe fn` to fit the table).
unsafe fn winograd_products(job: &winograd::Job<'_>, part: winograd::Part) {
    // SAFETY: the FPU is part of the target.
    unsafe { winograd::products_part(Tile2x16, job, part) }
}
