//! int8 convolutions against the TFLite interpreter, bit for bit: each
//! fixture in tests/fixtures/int8 (written by tools/tflite_int8_fixtures.py)
//! is a one-conv Keras model converted to full int8 by TFLite's converter and
//! run by the interpreter with its reference kernels; skipnet's
//! `conv2d_int8_reference` must give exactly the interpreter's int8 output
//! from the same quantized input, weights, bias and scales.

#![cfg(feature = "std")]

use safetensors::{Dtype, SafeTensors};
use skipnet_runtime::ops::conv2d::Conv2dGeom;
use skipnet_runtime::ops::conv2d_int8::{conv2d_int8_reference, Conv2dInt8Quant};
use skipnet_runtime::ops::Hwc;
use skipnet_runtime::quant::{activation_range, QuantizedMultiplier};
use skipnet_runtime::Activation;
use std::path::PathBuf;

/// The one-conv fixtures (`conv*.safetensors`).
fn fixtures() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/int8");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("conv"))
        })
        .collect();
    v.sort();
    v
}

/// A tensor's bytes, after checking its dtype and shape.
fn bytes<'a>(st: &'a SafeTensors<'_>, name: &str, dtype: Dtype) -> (&'a [u8], Vec<usize>) {
    let t = st.tensor(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(t.dtype(), dtype, "{name}'s dtype");
    (t.data(), t.shape().to_vec())
}

fn i8s(b: &[u8]) -> Vec<i8> {
    b.iter().map(|&v| v as i8).collect()
}

fn le4<T>(b: &[u8], f: fn([u8; 4]) -> T) -> Vec<T> {
    b.chunks_exact(4)
        .map(|c| f([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// TF's padding before the first row/column, and the output size.
fn axis(n: usize, k: usize, s: usize, same: bool) -> (usize, usize) {
    if same {
        let out = n.div_ceil(s);
        (out, ((out - 1) * s + k).saturating_sub(n) / 2)
    } else {
        ((n - k) / s + 1, 0)
    }
}

#[test]
fn conv2d_int8_matches_tflite_reference_bit_for_bit() {
    let files = fixtures();
    assert!(files.len() >= 5, "the int8 fixtures are missing: {files:?}");
    for path in files {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let raw = std::fs::read(&path).unwrap();
        let (_, meta) = SafeTensors::read_metadata(&raw).unwrap();
        let meta = meta.metadata().clone().expect("geometry metadata");
        let st = SafeTensors::deserialize(&raw).unwrap();
        let (x, xs) = bytes(&st, "x", Dtype::I8);
        let (w, ws) = bytes(&st, "kernel", Dtype::I8);
        let (b, _) = bytes(&st, "bias", Dtype::I32);
        let (wsc, _) = bytes(&st, "kernel_scale", Dtype::F32);
        let (ioq, _) = bytes(&st, "io_quant", Dtype::F32);
        let (y, ys) = bytes(&st, "y", Dtype::I8);
        let (x, w, y) = (i8s(x), i8s(w), i8s(y));
        let bias = le4(b, i32::from_le_bytes);
        let w_scale = le4(wsc, f32::from_le_bytes);
        let io = le4(ioq, f32::from_le_bytes);
        let (in_scale, in_zp, out_scale, out_zp) = (io[0], io[1] as i32, io[2], io[3] as i32);

        let s: usize = meta["strides"].parse().unwrap();
        let same = meta["padding"] == "same";
        let act = match meta["activation"].as_str() {
            "relu" => Activation::Relu,
            "relu6" => Activation::Relu6,
            "linear" => Activation::Linear,
            other => panic!("{name}: activation {other}"),
        };
        let (kh, kw) = (ws[0], ws[1]);
        let (oh, ph) = axis(xs[0], kh, s, same);
        let (ow, pw) = axis(xs[1], kw, s, same);
        assert_eq!(ys, [oh, ow, ws[3]], "{name}: output shape");
        let g = Conv2dGeom {
            input: Hwc {
                h: xs[0],
                w: xs[1],
                c: xs[2],
            },
            upsample: (1, 1),
            output: Hwc {
                h: oh,
                w: ow,
                c: ws[3],
            },
            kernel: (kh, kw),
            strides: (s, s),
            dilation: (1, 1),
            pad: (ph, pw),
            groups: 1,
            activation: act,
        };
        let multipliers: Vec<QuantizedMultiplier> = w_scale
            .iter()
            .map(|&ws| QuantizedMultiplier::for_conv(in_scale, ws, out_scale))
            .collect();
        let q = Conv2dInt8Quant {
            input_zero_point: in_zp,
            output_zero_point: out_zp,
            multipliers: &multipliers,
            clamp: activation_range(act, out_scale, out_zp).unwrap(),
        };
        let mut got = vec![0i8; y.len()];
        conv2d_int8_reference(&g, &x, &w, Some(&bias), &q, &mut got);
        let diff: Vec<(usize, i8, i8)> = got
            .iter()
            .zip(&y)
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .map(|(i, (&a, &b))| (i, a, b))
            .collect();
        assert!(
            diff.is_empty(),
            "{name}: {} of {} outputs differ from TFLite's (index, skipnet, TFLite), first: {:?}",
            diff.len(),
            y.len(),
            &diff[..diff.len().min(8)]
        );
        // The check is not vacuous: the output spans many int8 values.
        let distinct: std::collections::BTreeSet<i8> = y.iter().copied().collect();
        assert!(
            distinct.len() > 20,
            "{name}: only {} distinct outputs",
            distinct.len()
        );
        eprintln!(
            "{name}: {} outputs equal TFLite's ({} distinct values)",
            y.len(),
            distinct.len()
        );
    }
}

/// The int8 seed U-Net (tests/fixtures/int8/seed_unet, TFLite's quantization
/// of the seed_unet fixture's weights) run layer by layer on skipnet's int8
/// conv, each nearest upsample folded into the conv that reads it and each
/// concat a copy of channels (TFLite gives them their input's quantization;
/// the fixture generator checks it): every conv's output equals the
/// interpreter's.
#[test]
fn seed_unet_int8_matches_tflite_reference_bit_for_bit() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/int8/seed_unet");
    let wraw = std::fs::read(dir.join("weights.safetensors")).unwrap();
    let ioraw = std::fs::read(dir.join("io.safetensors")).unwrap();
    let w = SafeTensors::deserialize(&wraw).unwrap();
    let io = SafeTensors::deserialize(&ioraw).unwrap();
    let quant = |name: &str| {
        let v = le4(
            bytes(&w, &format!("{name}.quant"), Dtype::F32).0,
            f32::from_le_bytes,
        );
        (v[0], v[1] as i32)
    };
    // One conv: 3x3, `same`, reading `x` (h, w, c) quantized as `input`.
    let conv = |name: &str,
                x: &[i8],
                (h, wd, c): (usize, usize, usize),
                input: (f32, i32),
                stride: usize,
                up: usize,
                act: Activation| {
        let (k, ks) = bytes(&w, &format!("{name}.kernel"), Dtype::I8);
        let kernel = i8s(k);
        let bias = le4(
            bytes(&w, &format!("{name}.bias"), Dtype::I32).0,
            i32::from_le_bytes,
        );
        let w_scale = le4(
            bytes(&w, &format!("{name}.kernel_scale"), Dtype::F32).0,
            f32::from_le_bytes,
        );
        let (out_scale, out_zp) = quant(name);
        let (n_h, n_w) = (h * up, wd * up);
        let (oh, ph) = axis(n_h, 3, stride, true);
        let (ow, pw) = axis(n_w, 3, stride, true);
        let g = Conv2dGeom {
            input: Hwc { h, w: wd, c },
            upsample: (up, up),
            output: Hwc {
                h: oh,
                w: ow,
                c: ks[3],
            },
            kernel: (3, 3),
            strides: (stride, stride),
            dilation: (1, 1),
            pad: (ph, pw),
            groups: 1,
            activation: act,
        };
        let multipliers: Vec<QuantizedMultiplier> = w_scale
            .iter()
            .map(|&s| QuantizedMultiplier::for_conv(input.0, s, out_scale))
            .collect();
        let q = Conv2dInt8Quant {
            input_zero_point: input.1,
            output_zero_point: out_zp,
            multipliers: &multipliers,
            clamp: activation_range(act, out_scale, out_zp).unwrap(),
        };
        let mut y = vec![0i8; g.output.len()];
        conv2d_int8_reference(&g, x, &kernel, Some(&bias), &q, &mut y);
        let want = i8s(bytes(&io, name, Dtype::I8).0);
        let differ = y.iter().zip(&want).filter(|(a, b)| a != b).count();
        assert_eq!(
            differ,
            0,
            "{name}: {differ} of {} outputs differ from TFLite's",
            y.len()
        );
        (y, (oh, ow, ks[3]), (out_scale, out_zp))
    };
    // Channels of `a` then `b`, per pixel.
    let concat = |a: &[i8], ca: usize, b: &[i8], cb: usize| -> Vec<i8> {
        a.chunks_exact(ca)
            .zip(b.chunks_exact(cb))
            .flat_map(|(p, q)| p.iter().chain(q).copied())
            .collect()
    };
    let relu = Activation::Relu;
    let x = i8s(bytes(&io, "x", Dtype::I8).0);
    let (c1, s1, q1) = conv("conv1", &x, (32, 32, 3), quant("x"), 2, 1, relu);
    let (c2, s2, q2) = conv("conv2", &c1, s1, q1, 2, 1, relu);
    let (c3, s3, q3) = conv("conv3", &c2, s2, q2, 2, 1, relu);
    let (c4, s4, q4) = conv("conv4", &c3, s3, q3, 2, 1, relu);
    let (u1, su1, _) = conv("up1", &c4, s4, q4, 1, 2, relu);
    let m1 = concat(&c3, s3.2, &u1, su1.2);
    let (u2, su2, _) = conv("up2", &m1, (s3.0, s3.1, s3.2 + su1.2), q3, 1, 2, relu);
    let m2 = concat(&c2, s2.2, &u2, su2.2);
    let (u3, su3, _) = conv("up3", &m2, (s2.0, s2.1, s2.2 + su2.2), q2, 1, 2, relu);
    let m3 = concat(&c1, s1.2, &u3, su3.2);
    let (u4, s_u4, q_u4) = conv(
        "up4",
        &m3,
        (s1.0, s1.1, s1.2 + su3.2),
        q1,
        1,
        2,
        Activation::Linear,
    );
    let (y, _, _) = conv("out", &u4, s_u4, q_u4, 1, 1, Activation::Linear);
    let want = i8s(bytes(&io, "y", Dtype::I8).0);
    assert_eq!(y, want, "the network's output");
    let distinct: std::collections::BTreeSet<i8> = want.iter().copied().collect();
    assert!(
        distinct.len() > 20,
        "only {} distinct outputs",
        distinct.len()
    );
}

/// TFLite's int8 ADD (operands of different scales and zero points, a
/// fused relu or none), from the interpreter's own inputs: equal bit for
/// bit.
#[test]
fn add_int8_matches_tflite_reference_bit_for_bit() {
    use skipnet_runtime::ops::add_int8::{add_int8, AddInt8Quant};
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/int8");
    for name in ["add_linear", "add_relu"] {
        let raw = std::fs::read(dir.join(format!("{name}.safetensors"))).unwrap();
        let (_, meta) = SafeTensors::read_metadata(&raw).unwrap();
        let meta = meta.metadata().clone().expect("activation metadata");
        let st = SafeTensors::deserialize(&raw).unwrap();
        let a = i8s(bytes(&st, "a", Dtype::I8).0);
        let b = i8s(bytes(&st, "b", Dtype::I8).0);
        let y = i8s(bytes(&st, "y", Dtype::I8).0);
        let qv = le4(bytes(&st, "quant", Dtype::F32).0, f32::from_le_bytes);
        let act = match meta["activation"].as_str() {
            "relu" => Activation::Relu,
            _ => Activation::Linear,
        };
        let q = AddInt8Quant::new(
            (qv[0], qv[1] as i32),
            (qv[2], qv[3] as i32),
            (qv[4], qv[5] as i32),
            act,
        )
        .unwrap();
        let mut got = vec![0i8; y.len()];
        add_int8(&a, &b, &q, &mut got);
        let differ = got.iter().zip(&y).filter(|(p, q)| p != q).count();
        assert_eq!(differ, 0, "{name}: {differ} of {} outputs differ", y.len());
        let distinct: std::collections::BTreeSet<i8> = y.iter().copied().collect();
        assert!(
            distinct.len() > 20,
            "{name}: only {} distinct outputs",
            distinct.len()
        );
    }
}
