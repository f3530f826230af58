//! The firmware: on `thumbv7em-none-eabihf` a Cortex-M4F program
//! (`cortex-m-rt`: vector table, reset handler, FPU on) that runs the seed
//! U-Net once on the Keras fixture's input and checks the output against
//! Keras's (max abs error <= 1e-4, NaN-aware), then runs its int8 version on
//! TFLite's quantized input and checks that the output equals the TFLite
//! interpreter's (reference kernels) byte for byte; it prints the error and
//! the instructions each `forward` took over semihosting, and exits with the
//! checks' status. CI
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
/// TFLite's int8 input and output (tests/fixtures/int8/seed_unet), raw bytes.
static X_INT8: &[u8; 3072] = include_bytes!(concat!(env!("OUT_DIR"), "/x.i8"));
static Y_INT8: &[u8; 3072] = include_bytes!(concat!(env!("OUT_DIR"), "/y.i8"));

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

/// TFLite's int8 input frame.
fn input_int8() -> [i8; 3072] {
    X_INT8.map(|b| b as i8)
}

/// How many int8 outputs differ from TFLite's (the check wants none).
fn differ_int8(y: &[i8; 3072]) -> usize {
    y.iter()
        .zip(Y_INT8)
        .filter(|(a, b)| **a != **b as i8)
        .count()
}

#[cfg(target_os = "none")]
mod firmware {
    use core::sync::atomic::{AtomicU32, Ordering};
    use cortex_m::peripheral::{syst::SystClkSource, Peripherals, SYST};
    use cortex_m_rt::{entry, exception};
    use cortex_m_semihosting::hprintln;
    use skipnet_embedded_example::firmware::exit;

    /// SysTick wraps (every 2^24 ticks) since the counter started.
    static WRAPS: AtomicU32 = AtomicU32::new(0);

    #[exception]
    fn SysTick() {
        WRAPS.fetch_add(1, Ordering::Relaxed);
    }

    /// QEMU's `-icount shift=0` instructions per tick of the board's 25 MHz
    /// SysTick clock.
    const INSTRUCTIONS_PER_TICK: u64 = 40;

    /// Instructions `f` takes, from SysTick ticks on the core clock.
    fn counted<R>(syst: &mut SYST, f: impl FnOnce() -> R) -> (R, u64) {
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

    #[entry]
    fn main() -> ! {
        let Some(mut p) = Peripherals::take() else {
            exit(false)
        };
        let (Some(ws), Some(ws8)) = (
            skipnet_embedded_example::WORKSPACE.take(),
            skipnet_embedded_example::WORKSPACE_INT8.take(),
        ) else {
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
        let x8 = super::input_int8();
        let (y8, n8) = counted(&mut p.SYST, || {
            skipnet_embedded_example::segment_int8(ws8, core::hint::black_box(&x8))
        });
        hprintln!(
            "int8 seed U-Net: one forward {} instructions (SysTick ticks x {})",
            n8,
            INSTRUCTIONS_PER_TICK
        );
        let differ = super::differ_int8(y8);
        hprintln!("int8 outputs that differ from TFLite's: {} of 3072", differ);
        exit(err <= super::TOLERANCE && differ == 0)
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    let ws = skipnet_embedded_example::WORKSPACE
        .take()
        .expect("the workspace, taken once");
    let err = error(skipnet_embedded_example::segment(ws, &input()));
    println!("one frame: max abs error vs Keras {err:e} (tolerance {TOLERANCE:e})");
    let ws8 = skipnet_embedded_example::WORKSPACE_INT8
        .take()
        .expect("the int8 workspace, taken once");
    let differ = differ_int8(skipnet_embedded_example::segment_int8(ws8, &input_int8()));
    println!("one int8 frame: {differ} of 3072 outputs differ from TFLite's");
    // `err` is infinite for a NaN, so this fails on one too.
    if err > TOLERANCE || differ != 0 {
        std::process::exit(1);
    }
}
