//! Build script of the firmware: on a bare-metal target it puts `memory.x`
//! (the board's memory map) where cortex-m-rt's `link.x` finds it and links
//! the binary with `link.x`; everywhere it writes the Keras fixture's input and
//! output (tests/fixtures/seed_unet/io.safetensors) as raw little-endian f32
//! files, and TFLite's int8 input and output (tests/fixtures/int8/seed_unet)
//! as raw bytes, that the firmware includes, so the checks run on the device.

use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let io = "../../tests/fixtures/seed_unet/io.safetensors";
    println!("cargo:rerun-if-changed={io}");
    println!("cargo:rerun-if-changed=memory.x");
    let io_int8 = "../../tests/fixtures/int8/seed_unet/io.safetensors";
    println!("cargo:rerun-if-changed={io_int8}");
    for (file, dtype, ext) in [
        (io, safetensors::Dtype::F32, "f32"),
        (io_int8, safetensors::Dtype::I8, "i8"),
    ] {
        let bytes = fs::read(file).expect("the seed U-Net fixture");
        let st = safetensors::SafeTensors::deserialize(&bytes).expect("a valid safetensors file");
        for name in ["x", "y"] {
            let t = st.tensor(name).expect("x and y in the fixture");
            assert_eq!(t.dtype(), dtype, "{file}: {name}");
            fs::write(out.join(format!("{name}.{ext}")), t.data()).expect("write to OUT_DIR");
        }
    }
    println!("cargo:rerun-if-env-changed=SKIPNET_PART");
    println!("cargo:rerun-if-changed=parts");
    if env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("none") {
        // QEMU's board by default; a real part's map with SKIPNET_PART.
        let map = match env::var("SKIPNET_PART") {
            Ok(part) => format!("parts/{part}.x"),
            Err(_) => "memory.x".to_string(),
        };
        fs::copy(&map, out.join("memory.x")).unwrap_or_else(|e| panic!("{map}: {e}"));
        println!("cargo:rustc-link-search={}", out.display());
        println!("cargo:rustc-link-arg-bins=-Tlink.x");
    }
}
