//! The int8 tile kernel for Cortex-M cores with the DSP extension (M4, M7,
//! M55, M85): 3 pixels x 2 filters, six 32-bit sums in `r0-r5` for the
//! whole reduction. Per four `k`: one `ldrd` of the filter pair's weight
//! words, four `sxtb16` to 16-bit pairs, one `ldrd` of each pixel's two
//! input pairs and twelve `smlad` (two multiply-adds each): 20 instructions
//! per 24 multiply-adds, unrolled four times. In assembly because the
//! register assignment is the point (all 14 usable registers, `r6` and `r7`
//! included, which inline `asm!` may not name) and `smlad` has no stable
//! Rust intrinsic. The im2col gather uses `sxtab16`: four int8 inputs to two
//! 16-bit pairs with the zero point subtracted, in two instructions.
//!
//! Compiled only where build.rs sets `skipnet_cortex_m_dsp`; checked on the
//! device under QEMU against the reference loop (`examples/embedded`'s
//! `kernel-check` firmware, in `.ci/run`).

use super::{TileKernel, PIXELS};
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
    "1:",
    quad!(),
    quad!(),
    quad!(),
    quad!(),
    "ldr r10, [sp, #4]",
    "cmp lr, r10",
    "bne 1b",
    "pop {{r6, r7}}",
    "stm r6, {{r0-r5}}",
    "pop {{r4-r11, pc}}",
    ".size skipnet_q7_tile_3x2, . - skipnet_q7_tile_3x2",
);

unsafe extern "C" {
    fn skipnet_q7_tile_3x2(acc: *mut i32, a: *const u32, w: *const i32, quads: usize);
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
}

/// [`super::widen_run`] with `sxtab16`: per four inputs one `ldr`, two
/// `sxtab16` and one `strd` into the column.
pub(super) fn widen_run(block: &mut [u32], slot: usize, k: usize, src: &[i8], zp: i32) {
    let quads = src.len() / 4;
    if quads == 0 {
        return;
    }
    let first = (k / 4) * PIXELS * 2 + slot * 2;
    let last = first + (quads - 1) * PIXELS * 2 + 1;
    assert!(
        last < block.len() && src.len() % 4 == 0,
        "im2col column out of range"
    );
    let offset = u32::from((-zp) as u16) * 0x0001_0001;
    let dst = block[first..].as_mut_ptr();
    // SAFETY: the assertion above keeps the `quads` pairs of words written,
    // `PIXELS * 2` words apart from `first`, inside `block` (word-aligned:
    // a u32 slice), and the `quads` words read inside `src` (`ldr` may be
    // unaligned on ARMv7E-M and ARMv8-M mainline).
    unsafe {
        asm!(
            "2:",
            "ldr {x}, [{src}], #4",
            "sxtab16 {y}, {off}, {x}, ror #8",
            "sxtab16 {x}, {off}, {x}",
            "strd {x}, {y}, [{dst}], #{stride}",
            "subs {n}, {n}, #1",
            "bne 2b",
            src = inout(reg) src.as_ptr() => _,
            dst = inout(reg) dst => _,
            n = inout(reg) quads => _,
            off = in(reg) offset,
            x = out(reg) _,
            y = out(reg) _,
            stride = const PIXELS * 2 * 4,
            options(nostack),
        );
    }
}
