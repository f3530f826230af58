//! `#[quantized]` networks against the TFLite interpreter's int8 output
//! (reference kernels, `BUILTIN_REF`), bit for bit. Fixtures from
//! `tools/tflite_int8_fixtures.py`: the seed U-Net's int8 weights and
//! quantization under the DSL's names (`weights.safetensors`), and the
//! interpreter's input and output (`io.safetensors`).

mod common;

use common::{fixture, seed_unet, SeedUNetInt8};
use safetensors::{Dtype, SafeTensors};

seed_unet! {
    #[quantized]
    #[weights = "tests/fixtures/int8/seed_unet/weights.safetensors"]
    /// The int8 seed U-Net with its weights and requantization baked in.
    BakedSeedUNetInt8([32, 32, 3]) -> out
}

fn i8_tensor(st: &SafeTensors<'_>, name: &str) -> Vec<i8> {
    let t = st.tensor(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(t.dtype(), Dtype::I8, "{name}");
    t.data().iter().map(|&b| b as i8).collect()
}

#[test]
fn quantized_seed_unet_equals_tflite_int8_bit_for_bit() {
    let net = SeedUNetInt8::from_safetensors(&fixture("int8/seed_unet", "weights.safetensors"))
        .expect("weights load");
    let io_bytes = fixture("int8/seed_unet", "io.safetensors");
    let io = SafeTensors::deserialize(&io_bytes).unwrap();
    let x: [i8; 3072] = i8_tensor(&io, "x").try_into().unwrap();
    let want = i8_tensor(&io, "y");
    let mut ws = SeedUNetInt8::workspace();
    let got = net.forward(&mut ws, &x);
    let differ: Vec<(usize, i8, i8)> = got
        .iter()
        .zip(&want)
        .enumerate()
        .filter(|(_, (a, b))| a != b)
        .map(|(i, (&a, &b))| (i, a, b))
        .collect();
    assert!(
        differ.is_empty(),
        "{} of {} outputs differ from TFLite's (index, skipnet, TFLite): {:?}",
        differ.len(),
        want.len(),
        &differ[..differ.len().min(8)]
    );
    // Baked at compile time: the same output, and the same quantization.
    let baked = BakedSeedUNetInt8::BAKED;
    let mut bws = BakedSeedUNetInt8::workspace();
    assert_eq!(
        &baked.forward(&mut bws, &x)[..],
        &got[..],
        "baked vs loaded"
    );
    assert_eq!(baked.input_quantization(), net.input_quantization());
    assert_eq!(baked.output_quantization(), net.output_quantization());
    let distinct: std::collections::BTreeSet<i8> = want.iter().copied().collect();
    assert!(
        distinct.len() > 20,
        "only {} distinct outputs",
        distinct.len()
    );
    eprintln!(
        "int8 seed U-Net: {} outputs equal TFLite's; ARENA_LEN {} bytes (live-set bound {}), {} weights",
        want.len(),
        SeedUNetInt8::ARENA_LEN,
        SeedUNetInt8::LIVE_SET_BOUND,
        SeedUNetInt8::PARAMS
    );
}
