//! The seed U-Net of DSL.md §1 for a microcontroller: `#![no_std]`, no
//! allocator, no file system, no `unsafe`. The weights are baked into flash at
//! compile time (`#[weights = ...]`, packed in the kernels' layout), the arena
//! is a zero-initialised `static` (`.bss`), handed out once.
//!
//! ```
//! let ws = skipnet_embedded_example::WORKSPACE.take().unwrap();
//! let y = skipnet_embedded_example::segment(ws, &[0.5; 3072]);
//! assert_eq!(y.len(), 32 * 32 * 3);
//! ```
//!
//! The same network quantized to int8 (TFLite's arithmetic) is
//! `SkipUNetInt8`: a quarter of the flash and a fifth of the arena.
#![no_std]

use skipnet::{network, StaticWorkspace};

network! {
    /// DSL.md §1's encoder-decoder, with the Keras fixture's weights.
    #[weights = "../../tests/fixtures/seed_unet/weights.safetensors"]
    // The direct algorithm everywhere, whatever the shapes: no Winograd
    // scratch in the arena (RAM is what a microcontroller lacks).
    #[winograd = false]
    pub SkipUNet(x: [32, 32, 3]) -> out {
        conv1  = conv2d(x, 32, 3, strides = 2, padding = same, activation = relu);
        conv2  = conv2d(conv1, 64, 3, strides = 2, padding = same, activation = relu);
        conv3  = conv2d(conv2, 128, 3, strides = 2, padding = same, activation = relu);
        conv4  = conv2d(conv3, 128, 3, strides = 2, padding = same, activation = relu);
        up1    = conv2d(upsample2d(conv4, 2), 128, 3, padding = same, activation = relu);
        merge1 = concat(conv3, up1);
        up2    = conv2d(upsample2d(merge1, 2), 64, 3, padding = same, activation = relu);
        merge2 = concat(conv2, up2);
        up3    = conv2d(upsample2d(merge2, 2), 32, 3, padding = same, activation = relu);
        merge3 = concat(conv1, up3);
        up4    = conv2d(upsample2d(merge3, 2), 32, 3, padding = same);
        out    = conv2d(up4, 3, 3, padding = same);
    }
}

/// The network: weights in flash, nothing to load.
pub static NET: SkipUNet = SkipUNet::BAKED;

/// The arena (`SkipUNet::ARENA_LEN` f32, in `.bss`), taken once at start-up.
pub static WORKSPACE: StaticWorkspace<{ SkipUNet::ARENA_LEN }, SkipUNet> = StaticWorkspace::new();

/// One frame: 32x32 RGB channels-last in, 32x32x3 out (borrowed from `ws`).
pub fn segment<'w>(ws: &'w mut SkipUNetWorkspace, x: &[f32; 3072]) -> &'w [f32; 3072] {
    NET.forward(ws, x)
}

network! {
    /// The same network in int8, as TFLite's converter quantized it
    /// (tools/tflite_int8_fixtures.py): int8 kernels and activations, int32
    /// biases, each conv's requantization computed at compile time. Written
    /// out again, not generated from the f32 one, so each reads on its own.
    #[quantized]
    #[weights = "../../tests/fixtures/int8/seed_unet/weights.safetensors"]
    pub SkipUNetInt8(x: [32, 32, 3]) -> out {
        conv1  = conv2d(x, 32, 3, strides = 2, padding = same, activation = relu);
        conv2  = conv2d(conv1, 64, 3, strides = 2, padding = same, activation = relu);
        conv3  = conv2d(conv2, 128, 3, strides = 2, padding = same, activation = relu);
        conv4  = conv2d(conv3, 128, 3, strides = 2, padding = same, activation = relu);
        up1    = conv2d(upsample2d(conv4, 2), 128, 3, padding = same, activation = relu);
        merge1 = concat(conv3, up1);
        up2    = conv2d(upsample2d(merge1, 2), 64, 3, padding = same, activation = relu);
        merge2 = concat(conv2, up2);
        up3    = conv2d(upsample2d(merge2, 2), 32, 3, padding = same, activation = relu);
        merge3 = concat(conv1, up3);
        up4    = conv2d(upsample2d(merge3, 2), 32, 3, padding = same);
        out    = conv2d(up4, 3, 3, padding = same);
    }
}

/// The int8 network: weights (594 KB) in flash.
pub static NET_INT8: SkipUNetInt8 = SkipUNetInt8::BAKED;

/// The int8 arena (`SkipUNetInt8::ARENA_LEN` bytes, 40 KiB, in `.bss`).
pub static WORKSPACE_INT8: StaticWorkspace<{ SkipUNetInt8::ARENA_LEN }, SkipUNetInt8, i8> =
    StaticWorkspace::new();

/// One int8 frame: the input quantized with
/// `NET_INT8.input_quantization()[0]`, the output to dequantize with
/// `NET_INT8.output_quantization()[0]`.
pub fn segment_int8<'w>(ws: &'w mut SkipUNetInt8Workspace, x: &[i8; 3072]) -> &'w [i8; 3072] {
    NET_INT8.forward(ws, x)
}

/// What the firmware binaries (`src/main.rs`, `src/bin/seed_unet_int8.rs`,
/// `src/bin/kernel_check.rs`) need on a bare-metal target: an instruction
/// count, an exit that reports the result to QEMU (semihosting), and the
/// panic handler.
#[cfg(target_os = "none")]
pub mod firmware {
    use core::sync::atomic::{AtomicU32, Ordering};
    use cortex_m::peripheral::{syst::SystClkSource, SYST};
    use cortex_m_rt::exception;
    use cortex_m_semihosting::{debug, hprintln};

    /// SysTick wraps (every 2^24 ticks) since the counter started.
    static WRAPS: AtomicU32 = AtomicU32::new(0);

    #[exception]
    fn SysTick() {
        WRAPS.fetch_add(1, Ordering::Relaxed);
    }

    /// QEMU's `-icount shift=0` instructions per tick of the board's 25 MHz
    /// SysTick clock (one instruction per nanosecond).
    pub const INSTRUCTIONS_PER_TICK: u64 = 40;

    /// What `f` returns, and the instructions it took under QEMU's
    /// `-icount shift=0`: SysTick ticks on the core clock (wraps counted
    /// by the interrupt) times [`INSTRUCTIONS_PER_TICK`].
    pub fn counted<R>(syst: &mut SYST, f: impl FnOnce() -> R) -> (R, u64) {
        WRAPS.store(0, Ordering::Relaxed);
        syst.set_clock_source(SystClkSource::Core);
        syst.set_reload(0x00FF_FFFF);
        syst.clear_current();
        syst.enable_interrupt();
        syst.enable_counter();
        let r = f();
        syst.disable_counter();
        let ticks = u64::from(WRAPS.load(Ordering::Relaxed)) * 0x0100_0000
            + u64::from(0x00FF_FFFF - SYST::get_current());
        (r, ticks * INSTRUCTIONS_PER_TICK)
    }

    /// Ends the run: QEMU exits with status 0 if `ok`, 1 otherwise. Without
    /// a semihosting host (a real board, no debugger) the core sleeps.
    pub fn exit(ok: bool) -> ! {
        debug::exit(if ok {
            debug::EXIT_SUCCESS
        } else {
            debug::EXIT_FAILURE
        });
        loop {
            cortex_m::asm::wfi();
        }
    }

    #[panic_handler]
    fn panic(info: &core::panic::PanicInfo) -> ! {
        hprintln!("panic: {}", info);
        exit(false)
    }
}
