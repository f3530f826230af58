//! The int8 tile kernel for Cortex-M cores with the DSP extension (M4, M7,
//! M55, M85): 3 pixels x 2 filters, six 32-bit sums in `r0-r5` for the
//! whole reduction. Per four `k`: one `ldrd` of the filter pair's weight
//! words, four `sxtb16` to 16-bit pairs, one `ldrd` of each pixel's two
//! input pairs and twelve `smlad` (two multiply-adds each): 20 instructions
//! per 24 multiply-adds, unrolled eight times. In assembly because the
//! register assignment is the point (all 14 usable registers, `r6` and `r7`
//! included, which inline `asm!` may not name) and `smlad` has no stable
//! Rust intrinsic. The im2col gather uses `sxtab16`: four int8 inputs to two
//! 16-bit pairs with the zero point subtracted, in two instructions.
//!
//! Compiled only where build.rs sets `skipnet_cortex_m_dsp`; checked on the
//! device under QEMU against the reference loop (`examples/embedded`'s
//! `kernel-check` firmware, in `.ci/run`).

use super::{Portable, TileKernel, Widen, PIXELS};
use crate::quant::Requantize;
use core::arch::{asm, global_asm};

/// One step of four `k`: the pair's weights to 16-bit pairs (`r6`/`r8`
/// filter 0's `(w0, w2)`/`(w1, w3)`, `r7`/`r9` filter 1's), then each
/// pixel's `(x0, x2)`, `(x1, x3)` in `r10`, `r11` into its two sums.
macro_rules! quad {
    () => {
        "ldrd r6, r7, [lr], #8
         sxtb16 r8, r6, ror #8
         sxtb16 r6, r6
         sxtb16 r9, r7, ror #8
         sxtb16 r7, r7
         ldrd r10, r11, [r12], #8
         smlad r0, r10, r6, r0
         smlad r0, r11, r8, r0
         smlad r1, r10, r7, r1
         smlad r1, r11, r9, r1
         ldrd r10, r11, [r12], #8
         smlad r2, r10, r6, r2
         smlad r2, r11, r8, r2
         smlad r3, r10, r7, r3
         smlad r3, r11, r9, r3
         ldrd r10, r11, [r12], #8
         smlad r4, r10, r6, r4
         smlad r4, r11, r8, r4
         smlad r5, r10, r7, r5
         smlad r5, r11, r9, r5"
    };
}

// AAPCS: r0 = sums (6 x i32, read and written), r1 = im2col words, r2 =
// weight words, r3 = steps of four k (a positive multiple of 4).
global_asm!(
    ".section .text.skipnet_q7_tile_3x2,\"ax\",%progbits",
    ".global skipnet_q7_tile_3x2",
    ".p2align 2",
    ".thumb_func",
    ".type skipnet_q7_tile_3x2,%function",
    "skipnet_q7_tile_3x2:",
    "push {{r4-r11, lr}}",
    "add r3, r2, r3, lsl #3",
    "push {{r0, r3}}",
    "mov r12, r1",
    "mov lr, r2",
    "ldm r0, {{r0-r5}}",
    // An odd multiple of 4 steps: 4 first, then 8 per loop.
    "ldr r10, [sp, #4]",
    "sub r10, r10, lr",
    "tst r10, #32",
    "beq 1f",
    quad!(),
    quad!(),
    quad!(),
    quad!(),
    "1:",
    "ldr r10, [sp, #4]",
    "cmp lr, r10",
    "beq 3f",
    "2:",
    quad!(),
    quad!(),
    quad!(),
    quad!(),
    quad!(),
    quad!(),
    quad!(),
    quad!(),
    "ldr r10, [sp, #4]",
    "cmp lr, r10",
    "bne 2b",
    "3:",
    "pop {{r6, r7}}",
    "stm r6, {{r0-r5}}",
    "pop {{r4-r11, pc}}",
    ".size skipnet_q7_tile_3x2, . - skipnet_q7_tile_3x2",
);

/// One step of four `k` for one pixel (the block's first): as `quad!`,
/// the pixel's words read at its column's stride.
macro_rules! quad1 {
    () => {
        "ldrd r6, r7, [lr], #8
         sxtb16 r8, r6, ror #8
         sxtb16 r6, r6
         sxtb16 r9, r7, ror #8
         sxtb16 r7, r7
         ldrd r10, r11, [r12], #24
         smlad r0, r10, r6, r0
         smlad r0, r11, r8, r0
         smlad r1, r10, r7, r1
         smlad r1, r11, r9, r1"
    };
}

// A block's last pixel alone (1 x 2): r0 = its two sums, r1 = im2col
// words, r2 = weight words, r3 = steps (a positive multiple of 4).
global_asm!(
    ".section .text.skipnet_q7_tile_1x2,\"ax\",%progbits",
    ".global skipnet_q7_tile_1x2",
    ".p2align 2",
    ".thumb_func",
    ".type skipnet_q7_tile_1x2,%function",
    "skipnet_q7_tile_1x2:",
    "push {{r4-r11, lr}}",
    "add r3, r2, r3, lsl #3",
    "mov r12, r1",
    "mov lr, r2",
    "mov r4, r0",
    "ldm r0, {{r0, r1}}",
    "1:",
    quad1!(),
    quad1!(),
    quad1!(),
    quad1!(),
    "cmp lr, r3",
    "bne 1b",
    "stm r4, {{r0, r1}}",
    "pop {{r4-r11, pc}}",
    ".size skipnet_q7_tile_1x2, . - skipnet_q7_tile_1x2",
);

/// One output of `skipnet_q7_requant*`: the next sum (8 bytes on) through
/// the filter's `Requantize` in r4-r11 to the byte at r1, which then moves
/// `stride` (r3) on.
macro_rules! requant_one {
    () => {
        "ldr r2, [r0], #8
         mla r2, r2, r5, r4
         mov r12, #0x40000000
         mov lr, #0
         smlal r12, lr, r2, r6
         lsr r12, r12, #31
         orr r2, r12, lr, lsl #1
         and lr, r2, r8
         lsr r12, r2, #31
         add r12, r12, r8, lsr #1
         cmp lr, r12
         asr r2, r2, r7
         it gt
         addgt r2, r2, #1
         add r2, r2, r9
         cmp r2, r10
         it lt
         movlt r2, r10
         cmp r2, r11
         it gt
         movgt r2, r11
         strb r2, [r1]
         add r1, r1, r3"
    };
}

// `skipnet_q7_requant<n>`: one filter's `n` outputs of a block. r0 = its
// sums (8 bytes apart: the block's sums are pixel-major pairs), r1 = its
// first output byte, r2 = its `Requantize` (repr(C): scaled bias, 2^left,
// multiplier, right, mask, zero point, lo, hi, loaded into r4-r11), r3 =
// bytes between outputs. Per output: `x = acc * 2^left + bias * 2^left`
// (TFLite's `(acc + bias) << left`); `y = (x * multiplier + 2^30) >> 31`
// (gemmlowp's rounding doubling high multiply; the multiplier must not be
// i32::MIN, the caller checks); `y >> right` plus one when the remainder
// is above half (the threshold one more for negative `y`: ties away from
// zero); plus the zero point, clamped. Straight-line: no loop counter.
global_asm!(
    ".section .text.skipnet_q7_requant1,\"ax\",%progbits",
    ".global skipnet_q7_requant1",
    ".p2align 2",
    ".thumb_func",
    ".type skipnet_q7_requant1,%function",
    "skipnet_q7_requant1:",
    "push {{r4-r11, lr}}",
    "ldm r2, {{r4-r11}}",
    requant_one!(),
    "pop {{r4-r11, pc}}",
    ".size skipnet_q7_requant1, . - skipnet_q7_requant1",
);

global_asm!(
    ".section .text.skipnet_q7_requant2,\"ax\",%progbits",
    ".global skipnet_q7_requant2",
    ".p2align 2",
    ".thumb_func",
    ".type skipnet_q7_requant2,%function",
    "skipnet_q7_requant2:",
    "push {{r4-r11, lr}}",
    "ldm r2, {{r4-r11}}",
    requant_one!(),
    requant_one!(),
    "pop {{r4-r11, pc}}",
    ".size skipnet_q7_requant2, . - skipnet_q7_requant2",
);

global_asm!(
    ".section .text.skipnet_q7_requant3,\"ax\",%progbits",
    ".global skipnet_q7_requant3",
    ".p2align 2",
    ".thumb_func",
    ".type skipnet_q7_requant3,%function",
    "skipnet_q7_requant3:",
    "push {{r4-r11, lr}}",
    "ldm r2, {{r4-r11}}",
    requant_one!(),
    requant_one!(),
    requant_one!(),
    "pop {{r4-r11, pc}}",
    ".size skipnet_q7_requant3, . - skipnet_q7_requant3",
);

/// One step of four `k` for the three pixels and one filter (a layer's
/// last, odd filter): `r6`/`r8` its weight pairs, sums in `r0-r2`.
macro_rules! quad_odd {
    () => {
        "ldr r6, [lr], #8
         sxtb16 r8, r6, ror #8
         sxtb16 r6, r6
         ldrd r10, r11, [r12], #8
         smlad r0, r10, r6, r0
         smlad r0, r11, r8, r0
         ldrd r10, r11, [r12], #8
         smlad r1, r10, r6, r1
         smlad r1, r11, r8, r1
         ldrd r10, r11, [r12], #8
         smlad r2, r10, r6, r2
         smlad r2, r11, r8, r2"
    };
}

// A layer's last filter when the filters are odd (3 x 1, the pair's second
// filter being padding): r0 = the block's sums (filter 0's at words 0, 2,
// 4), r1 = im2col words, r2 = weight words, r3 = steps (a positive
// multiple of 4). Half a tile's work.
global_asm!(
    ".section .text.skipnet_q7_tile_3x1,\"ax\",%progbits",
    ".global skipnet_q7_tile_3x1",
    ".p2align 2",
    ".thumb_func",
    ".type skipnet_q7_tile_3x1,%function",
    "skipnet_q7_tile_3x1:",
    "push {{r4-r11, lr}}",
    "add r3, r2, r3, lsl #3",
    "mov r12, r1",
    "mov lr, r2",
    "mov r4, r0",
    "ldr r1, [r4, #8]",
    "ldr r2, [r4, #16]",
    "ldr r0, [r4]",
    "1:",
    quad_odd!(),
    quad_odd!(),
    quad_odd!(),
    quad_odd!(),
    "cmp lr, r3",
    "bne 1b",
    "str r0, [r4]",
    "str r1, [r4, #8]",
    "str r2, [r4, #16]",
    "pop {{r4-r11, pc}}",
    ".size skipnet_q7_tile_3x1, . - skipnet_q7_tile_3x1",
);

unsafe extern "C" {
    fn skipnet_q7_tile_3x1(acc: *mut i32, a: *const u32, w: *const i32, quads: usize);
    fn skipnet_q7_requant1(sums: *const i32, out: *mut i8, r: *const Requantize, stride: usize);
    fn skipnet_q7_requant2(sums: *const i32, out: *mut i8, r: *const Requantize, stride: usize);
    fn skipnet_q7_requant3(sums: *const i32, out: *mut i8, r: *const Requantize, stride: usize);
    fn skipnet_q7_tile_3x2(acc: *mut i32, a: *const u32, w: *const i32, quads: usize);
    fn skipnet_q7_tile_1x2(acc: *mut i32, a: *const u32, w: *const i32, quads: usize);
}

/// The assembly tile.
pub struct CortexM;

impl TileKernel for CortexM {
    #[inline(always)]
    unsafe fn tile(acc: &mut [i32; 2 * PIXELS], a: *const u32, w: *const i32, quads: usize) {
        // SAFETY: the caller's contract: `a` and `w` hold `quads` steps,
        // word-aligned (`ldrd`), `quads` a positive multiple of 4 (the
        // unrolled loop); `acc` is six writable sums. The function follows
        // the AAPCS (saves r4-r11 and lr, restores sp).
        unsafe { skipnet_q7_tile_3x2(acc.as_mut_ptr(), a, w, quads) }
    }

    #[inline(always)]
    unsafe fn requantize(sums: &[i32], r: &Requantize, out: *mut i8, stride: usize, n: usize) {
        let (a, r_ptr) = (sums.as_ptr(), r as *const Requantize);
        // SAFETY: the caller's contract (`sums` holds `2 n - 1` values,
        // `out` writable at `p * stride` for `p < n`); the assembly runs
        // only when the multiplier is not i32::MIN, which its shortcut
        // would get wrong.
        unsafe {
            match n {
                _ if r.multiplier_is_min() => Portable::requantize(sums, r, out, stride, n),
                3 => skipnet_q7_requant3(a, out, r_ptr, stride),
                2 => skipnet_q7_requant2(a, out, r_ptr, stride),
                1 => skipnet_q7_requant1(a, out, r_ptr, stride),
                _ => Portable::requantize(sums, r, out, stride, n),
            }
        }
    }

    #[inline(always)]
    unsafe fn tile_odd(acc: &mut [i32; 2 * PIXELS], a: *const u32, w: *const i32, quads: usize) {
        // SAFETY: as `tile`'s (each step's second weight word is skipped).
        unsafe { skipnet_q7_tile_3x1(acc.as_mut_ptr(), a, w, quads) }
    }

    #[inline(always)]
    unsafe fn tile1(acc: &mut [i32; 2], a: *const u32, w: *const i32, quads: usize) {
        // SAFETY: as `tile`'s (pixel 0's words only are read).
        unsafe { skipnet_q7_tile_1x2(acc.as_mut_ptr(), a, w, quads) }
    }
}

impl Widen for CortexM {
    /// Per four inputs one `ldr` (unaligned is allowed), two `sxtab16` and
    /// one `strd`; two steps per loop.
    #[inline(always)]
    unsafe fn widen(dst: *mut u32, src: *const i8, quads: usize, offset: u32) {
        // SAFETY: the caller's contract: `4 * quads` bytes readable at
        // `src`, `quads` steps of two words writable at `dst` (word-aligned
        // for `strd`), `STEP` bytes apart.
        unsafe {
            asm!(
                "lsrs {n2}, {n}, #1",
                "beq 3f",
                "2:",
                "ldr {a}, [{src}], #4",
                "ldr {b}, [{src}], #4",
                "sxtab16 {c}, {off}, {a}, ror #8",
                "sxtab16 {a}, {off}, {a}",
                "strd {a}, {c}, [{dst}], #{step}",
                "sxtab16 {c}, {off}, {b}, ror #8",
                "sxtab16 {b}, {off}, {b}",
                "strd {b}, {c}, [{dst}], #{step}",
                "subs {n2}, {n2}, #1",
                "bne 2b",
                "3:",
                "lsls {n}, {n}, #31",
                "beq 4f",
                "ldr {a}, [{src}]",
                "sxtab16 {c}, {off}, {a}, ror #8",
                "sxtab16 {a}, {off}, {a}",
                "strd {a}, {c}, [{dst}]",
                "4:",
                src = inout(reg) src => _,
                dst = inout(reg) dst => _,
                n = inout(reg) quads => _,
                n2 = out(reg) _,
                off = in(reg) offset,
                a = out(reg) _,
                b = out(reg) _,
                c = out(reg) _,
                step = const STEP,
                options(nostack),
            );
        }
    }

    #[inline(always)]
    unsafe fn zero(dst: *mut u32, quads: usize, _offset: u32) {
        if quads == 0 {
            return;
        }
        // SAFETY: the caller's contract: `quads` steps of two words
        // writable at `dst`, word-aligned, `STEP` bytes apart.
        unsafe {
            asm!(
                "2:",
                "strd {z}, {z}, [{dst}], #{step}",
                "subs {n}, {n}, #1",
                "bne 2b",
                dst = inout(reg) dst => _,
                n = inout(reg) quads => _,
                z = in(reg) 0u32,
                step = const STEP,
                options(nostack),
            );
        }
    }
}

/// Bytes from one step of a pixel's im2col column to the next.
const STEP: usize = PIXELS * 2 * 4;
