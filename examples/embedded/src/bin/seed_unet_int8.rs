//! The int8 firmware: the seed U-Net quantized by TFLite's converter
//! (`SkipUNetInt8`: int8 weights baked into flash, a 51 KiB int8 arena in
//! `.bss`) runs once on TFLite's quantized input; the output must equal the
//! TFLite interpreter's (reference kernels) byte for byte. It prints the
//! instructions one `forward` took and exits with the check's status. CI
//! boots it under QEMU's `mps2-an386` board, and links it against the
//! memory maps of real parts (`parts/*.x`, chosen with `SKIPNET_PART`; see
//! build.rs):
//!
//! ```text
//! cargo build --release -p skipnet-embedded-example --target thumbv7em-none-eabihf --bin seed-unet-int8
//! qemu-system-arm -M mps2-an386 -nographic -semihosting-config enable=on,target=native \
//!     -icount shift=0 -kernel target/thumbv7em-none-eabihf/release/seed-unet-int8
//! ```
#![cfg_attr(target_os = "none", no_std, no_main)]

/// TFLite's int8 input and output (tests/fixtures/int8/seed_unet), raw
/// bytes written by build.rs.
static X_INT8: &[u8; 3072] = include_bytes!(concat!(env!("OUT_DIR"), "/x.i8"));
static Y_INT8: &[u8; 3072] = include_bytes!(concat!(env!("OUT_DIR"), "/y.i8"));

/// TFLite's int8 input frame.
fn input() -> [i8; 3072] {
    X_INT8.map(|b| b as i8)
}

/// How many outputs differ from TFLite's (the check wants none).
fn differ(y: &[i8; 3072]) -> usize {
    y.iter()
        .zip(Y_INT8)
        .filter(|(a, b)| **a != **b as i8)
        .count()
}

#[cfg(target_os = "none")]
mod firmware {
    use cortex_m::peripheral::Peripherals;
    use cortex_m_rt::entry;
    use cortex_m_semihosting::hprintln;
    use skipnet_embedded_example::firmware::{counted, exit};

    /// Multiply-adds of one forward (the nine convs' output elements times
    /// their reduction lengths, upsamples folded).
    const MULTIPLY_ADDS: u64 = 44_163_072;

    #[entry]
    fn main() -> ! {
        let Some(mut p) = Peripherals::take() else {
            exit(false)
        };
        let Some(ws) = skipnet_embedded_example::WORKSPACE_INT8.take() else {
            exit(false)
        };
        let x = super::input();
        let (y, n) = counted(&mut p.SYST, || {
            skipnet_embedded_example::segment_int8(ws, core::hint::black_box(&x))
        });
        // Thousandths, without float formatting.
        let per_mac = n * 1000 / MULTIPLY_ADDS;
        hprintln!(
            "int8 seed U-Net on a Cortex-M4: one forward {} instructions, {}.{:03} per multiply-add",
            n,
            per_mac / 1000,
            per_mac % 1000
        );
        let differ = super::differ(y);
        hprintln!(
            "outputs that differ from TFLite's int8 reference: {} of 3072",
            differ
        );
        exit(differ == 0)
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    let ws = skipnet_embedded_example::WORKSPACE_INT8
        .take()
        .expect("the workspace, taken once");
    let differ = differ(skipnet_embedded_example::segment_int8(ws, &input()));
    println!("one int8 frame: {differ} of 3072 outputs differ from TFLite's");
    if differ != 0 {
        std::process::exit(1);
    }
}
