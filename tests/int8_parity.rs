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

// Issue 14's budget: the int8 seed U-Net's arena within 48 KiB. Side by
// side, up4's input (16x16x64) and output (32x32x32) alone take 48 KiB;
// up4 computed over its input (`qgemm::conv2d_int8_over_input`) keeps the
// arena under it with the im2col block included.
const _: () = assert!(SeedUNetInt8::ARENA_LEN <= 48 * 1024);
const _: () = assert!(BakedSeedUNetInt8::ARENA_LEN == SeedUNetInt8::ARENA_LEN);

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
    // Every int8 tile this machine runs (`qgemm::kernel` names it).
    for isa in skipnet_runtime::testing::isas_under_test("int8 seed U-Net") {
        ws.set_isa(isa).unwrap();
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
            "{isa:?} ({} tile): {} of {} outputs differ from TFLite's (index, skipnet, TFLite): {:?}",
            skipnet_runtime::qgemm::kernel(isa),
            differ.len(),
            want.len(),
            &differ[..differ.len().min(8)]
        );
    }
    ws.set_isa(skipnet::Isa::detect()).unwrap();
    let got = net.forward(&mut ws, &x);
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
    let summary = SeedUNetInt8::summary();
    let up4 = summary
        .lines()
        .find(|l| l.contains("up4 "))
        .unwrap_or_else(|| panic!("no up4 row:\n{summary}"));
    assert!(up4.contains("written over `merge3`"), "{summary}");
    eprintln!("{summary}");
    eprintln!(
        "int8 seed U-Net: {} outputs equal TFLite's; ARENA_LEN {} bytes (live-set bound {}), {} weights",
        want.len(),
        SeedUNetInt8::ARENA_LEN,
        SeedUNetInt8::LIVE_SET_BOUND,
        SeedUNetInt8::PARAMS
    );
}

skipnet::network! {
    /// A grouped conv (the reference path) feeding a packed one, through
    /// a concat with the input: the quantization is routed as TFLite's
    /// spec says (the concat keeps `x`'s, which `g` must share).
    #[quantized]
    pub GroupedInt8(x: [6, 5, 8]) -> out {
        g   = conv2d(x, 8, 3, padding = same, groups = 2, activation = relu);
        m   = concat(x, g);
        out = conv2d(m, 5, 1, activation = relu6);
    }
}

/// The network above against the reference kernel layer by layer, on
/// random weights and quantization written to a safetensors file: every
/// output byte equal.
#[test]
fn quantized_network_wires_layers_as_the_reference_does() {
    use safetensors::tensor::TensorView;
    use skipnet::quant::{Quantization, QuantizedMultiplier};
    use skipnet_runtime::ops::conv2d::Conv2dGeom;
    use skipnet_runtime::ops::conv2d_int8::{conv2d_int8_reference, Conv2dInt8Quant};
    use skipnet_runtime::ops::Hwc;
    use skipnet_runtime::quant::activation_range;
    use skipnet_runtime::Activation;

    let mut state = 0x5eed_u64;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as u32
    };
    let mut i8s = |n: usize| -> Vec<i8> { (0..n).map(|_| next() as u8 as i8).collect() };
    let x = i8s(6 * 5 * 8);
    let (kg, ko) = (i8s(3 * 3 * 4 * 8), i8s(16 * 5));
    let bg: Vec<i32> = (0..8).map(|i| i * 700 - 2500).collect();
    let bo: Vec<i32> = (0..5).map(|i| 900 - i * 450).collect();
    let sg: Vec<f32> = (0..8).map(|i| 0.002 + i as f32 * 3e-4).collect();
    let so: Vec<f32> = (0..5).map(|i| 0.004 - i as f32 * 2e-4).collect();
    let qx = Quantization::new(0.05, -7.0).unwrap();
    let qo = Quantization::new(0.08, 11.0).unwrap();

    // The file, under the DSL's names.
    let f32b = |v: &[f32]| -> Vec<u8> { v.iter().flat_map(|x| x.to_le_bytes()).collect() };
    let i32b = |v: &[i32]| -> Vec<u8> { v.iter().flat_map(|x| x.to_le_bytes()).collect() };
    let i8b = |v: &[i8]| -> Vec<u8> { v.iter().map(|&x| x as u8).collect() };
    let tensors: Vec<(&str, safetensors::Dtype, Vec<usize>, Vec<u8>)> = vec![
        (
            "x.quant",
            safetensors::Dtype::F32,
            vec![2],
            f32b(&[0.05, -7.0]),
        ),
        (
            "g.quant",
            safetensors::Dtype::F32,
            vec![2],
            f32b(&[0.05, -7.0]),
        ),
        (
            "out.quant",
            safetensors::Dtype::F32,
            vec![2],
            f32b(&[0.08, 11.0]),
        ),
        (
            "g.kernel",
            safetensors::Dtype::I8,
            vec![3, 3, 4, 8],
            i8b(&kg),
        ),
        ("g.bias", safetensors::Dtype::I32, vec![8], i32b(&bg)),
        (
            "g.kernel_scale",
            safetensors::Dtype::F32,
            vec![8],
            f32b(&sg),
        ),
        (
            "out.kernel",
            safetensors::Dtype::I8,
            vec![1, 1, 16, 5],
            i8b(&ko),
        ),
        ("out.bias", safetensors::Dtype::I32, vec![5], i32b(&bo)),
        (
            "out.kernel_scale",
            safetensors::Dtype::F32,
            vec![5],
            f32b(&so),
        ),
    ];
    let views: Vec<(&str, TensorView<'_>)> = tensors
        .iter()
        .map(|(n, d, s, b)| (*n, TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    let file = safetensors::serialize(views, &None).unwrap();
    let net = GroupedInt8::from_safetensors(&file).expect("weights load");
    let mut ws = GroupedInt8::workspace();
    let got = net.forward(&mut ws, &x.clone().try_into().unwrap());

    // The reference, layer by layer.
    let conv = |input: Hwc, k: (usize, usize), pad: usize, groups, filters, act| Conv2dGeom {
        input,
        upsample: (1, 1),
        output: Hwc {
            h: input.h,
            w: input.w,
            c: filters,
        },
        kernel: k,
        strides: (1, 1),
        dilation: (1, 1),
        pad: (pad, pad),
        groups,
        activation: act,
    };
    let run = |g: &Conv2dGeom,
               x: &[i8],
               k: &[i8],
               b: &[i32],
               s: &[f32],
               qi: Quantization,
               qo: Quantization| {
        let m: Vec<QuantizedMultiplier> = s
            .iter()
            .map(|&s| QuantizedMultiplier::for_conv(qi.scale, s, qo.scale))
            .collect();
        let q = Conv2dInt8Quant {
            input_zero_point: qi.zero_point,
            output_zero_point: qo.zero_point,
            multipliers: &m,
            clamp: activation_range(g.activation, qo.scale, qo.zero_point).unwrap(),
        };
        let mut y = vec![0i8; g.output.len()];
        conv2d_int8_reference(g, x, k, Some(b), &q, &mut y);
        y
    };
    let hwc = Hwc { h: 6, w: 5, c: 8 };
    let g = run(
        &conv(hwc, (3, 3), 1, 2, 8, Activation::Relu),
        &x,
        &kg,
        &bg,
        &sg,
        qx,
        qx,
    );
    let m: Vec<i8> = x
        .chunks_exact(8)
        .zip(g.chunks_exact(8))
        .flat_map(|(a, b)| a.iter().chain(b).copied())
        .collect();
    let hwc16 = Hwc { c: 16, ..hwc };
    let want = run(
        &conv(hwc16, (1, 1), 0, 1, 5, Activation::Relu6),
        &m,
        &ko,
        &bo,
        &so,
        qx,
        qo,
    );
    assert_eq!(&got[..], &want[..]);
    let distinct: std::collections::BTreeSet<i8> = want.iter().copied().collect();
    assert!(
        distinct.len() > 10,
        "only {} distinct outputs",
        distinct.len()
    );
    assert_eq!(net.output_quantization()[0], qo);
}
