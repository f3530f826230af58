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

/// What both firmware binaries (`src/main.rs`, `src/bin/kernel_check.rs`)
/// need on a bare-metal target: an exit that reports the result to QEMU
/// (semihosting), and the panic handler.
#[cfg(target_os = "none")]
pub mod firmware {
    use cortex_m_semihosting::{debug, hprintln};

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
