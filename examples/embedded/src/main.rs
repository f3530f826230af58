//! A bare-metal binary around the library: on `thumbv7em-none-eabihf` it runs
//! one frame at reset and halts (what a firmware's main loop would do per
//! frame); built in CI to prove the whole thing links with no allocator and to
//! measure flash and RAM. On the host it runs one frame and prints a checksum.
#![cfg_attr(target_os = "none", no_std, no_main)]

/// A fixed input frame (a real firmware would read a camera buffer).
static FRAME: [f32; 3072] = [0.5; 3072];

#[cfg(target_os = "none")]
mod bare_metal {
    use core::panic::PanicInfo;

    #[panic_handler]
    fn panic(_: &PanicInfo) -> ! {
        loop {}
    }

    /// Reset entry point.
    #[no_mangle]
    pub extern "C" fn _start() -> ! {
        if let Some(ws) = skipnet_embedded_example::WORKSPACE.take() {
            let y = skipnet_embedded_example::segment(ws, core::hint::black_box(&super::FRAME));
            core::hint::black_box(y);
        }
        loop {}
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    let Some(ws) = skipnet_embedded_example::WORKSPACE.take() else {
        return;
    };
    let y = skipnet_embedded_example::segment(ws, &FRAME);
    let sum: f32 = y.iter().sum();
    println!("one frame: {} outputs, sum {sum}", y.len());
}
