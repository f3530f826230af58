//! The firmware: on `thumbv7em-none-eabihf` a Cortex-M4F program
//! (`cortex-m-rt`: vector table, reset handler, FPU on) that runs the seed
//! U-Net once on the Keras fixture's input, checks the output against Keras's
//! (max abs error <= 1e-4, NaN-aware), prints the error and the instructions
//! one `forward` took over semihosting, and exits with the check's status. CI
//! runs it under QEMU's `mps2-an386` board (`.ci/run`; `memory.x` is that
//! board's map):
//!
//! ```text
//! cargo build --release -p skipnet-embedded-example --target thumbv7em-none-eabihf
//! qemu-system-arm -M mps2-an386 -nographic -semihosting-config enable=on,target=native \
//!     -icount shift=0 -kernel target/thumbv7em-none-eabihf/release/skipnet-embedded-example
//! ```
//!
//! Instructions are counted with SysTick on the core clock: under
//! `-icount shift=0` QEMU runs one instruction per nanosecond and the
//! board's 25 MHz clock ticks every 40 of them. On the host the same binary
//! runs one frame and prints the checksum and error.
#![cfg_attr(target_os = "none", no_std, no_main)]

/// The Keras fixture's input and output (tests/fixtures/seed_unet), as raw
/// little-endian f32 written by build.rs.
static X_BYTES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/x.f32"));
static Y_BYTES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/y.f32"));

/// `N` floats from little-endian bytes (`bytes` holds at least `4 * N`).
fn f32s<const N: usize>(bytes: &[u8]) -> [f32; N] {
    let mut v = [0.0f32; N];
    for (x, b) in v.iter_mut().zip(bytes.chunks_exact(4)) {
        *x = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
    v
}

/// The fixture's input frame.
fn input() -> [f32; 3072] {
    f32s(X_BYTES)
}

/// `y`'s max abs difference from Keras's output (infinite for a NaN).
fn error(y: &[f32; 3072]) -> f32 {
    let want: [f32; 3072] = f32s(Y_BYTES);
    skipnet::compare::max_abs_diff(y, &want)
}

/// The largest error accepted against Keras (float32 on both sides).
const TOLERANCE: f32 = 1e-4;

#[cfg(target_os = "none")]
mod firmware {
    use cortex_m::peripheral::Peripherals;
    use cortex_m_rt::entry;
    use cortex_m_semihosting::hprintln;
    use skipnet_embedded_example::firmware::{counted, exit, INSTRUCTIONS_PER_TICK};

    #[entry]
    fn main() -> ! {
        let Some(mut p) = Peripherals::take() else {
            exit(false)
        };
        let Some(ws) = skipnet_embedded_example::WORKSPACE.take() else {
            exit(false)
        };
        let x = super::input();
        let (y, n) = counted(&mut p.SYST, || {
            skipnet_embedded_example::segment(ws, core::hint::black_box(&x))
        });
        hprintln!(
            "skipnet seed U-Net on a Cortex-M4F: one forward {} instructions (SysTick ticks x {})",
            n,
            INSTRUCTIONS_PER_TICK
        );
        let err = super::error(y);
        hprintln!(
            "max abs error vs Keras: {:e} (tolerance {:e})",
            err,
            super::TOLERANCE
        );
        exit(err <= super::TOLERANCE)
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    let ws = skipnet_embedded_example::WORKSPACE
        .take()
        .expect("the workspace, taken once");
    let err = error(skipnet_embedded_example::segment(ws, &input()));
    println!("one frame: max abs error vs Keras {err:e} (tolerance {TOLERANCE:e})");
    // `err` is infinite for a NaN, so this fails on one too.
    if err > TOLERANCE {
        std::process::exit(1);
    }
}
