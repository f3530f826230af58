//! A bad weight file is an `Err` naming the tensor and both shapes, never a panic.

mod common;
use common::*;
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

/// The corner fixture's tensors, edited by `edit`, serialized again.
fn edited(edit: impl Fn(&mut Vec<(String, Dtype, Vec<usize>, Vec<u8>)>)) -> Vec<u8> {
    edited_file(&fixture("corner", "weights.safetensors"), edit)
}

/// `bytes`'s tensors, edited by `edit`, serialized again.
fn edited_file(
    bytes: &[u8],
    edit: impl Fn(&mut Vec<(String, Dtype, Vec<usize>, Vec<u8>)>),
) -> Vec<u8> {
    let st = SafeTensors::deserialize(bytes).unwrap();
    let mut ts: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(n, v)| (n, v.dtype(), v.shape().to_vec(), v.data().to_vec()))
        .collect();
    edit(&mut ts);
    let views: Vec<(String, TensorView<'_>)> = ts
        .iter()
        .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    safetensors::serialize(views, &None).unwrap()
}

fn load_err(bytes: &[u8]) -> String {
    match Corner::from_safetensors(bytes) {
        Ok(_) => panic!("a bad file loaded"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn the_fixture_itself_loads() {
    assert!(Corner::from_safetensors(&fixture("corner", "weights.safetensors")).is_ok());
}

#[test]
fn missing_tensor() {
    let b = edited(|ts| ts.retain(|t| t.0 != "h.bias"));
    assert_eq!(
        load_err(&b),
        "weight file has no tensor `h.bias` (the network needs it with shape [8])"
    );
}

#[test]
fn extra_tensor() {
    let b = edited(|ts| ts.push(("g.bias".into(), Dtype::F32, vec![8], vec![0; 32])));
    assert_eq!(
        load_err(&b),
        "weight file has tensor `g.bias` (shape [8]) that no layer of the network uses; check the layer names match the bindings"
    );
}

#[test]
fn transposed_kernel() {
    // `d.kernel` is [3, 2, 5, 6]; a PyTorch-style [6, 5, 3, 2] has the same length.
    let b = edited(|ts| {
        let t = ts.iter_mut().find(|t| t.0 == "d.kernel").unwrap();
        t.2 = vec![6, 5, 3, 2];
    });
    assert_eq!(
        load_err(&b),
        "tensor `d.kernel` has shape [6, 5, 3, 2] in the weight file but the network expects [3, 2, 5, 6]"
    );
}

#[test]
fn half_precision_tensor() {
    let b = edited(|ts| {
        let t = ts.iter_mut().find(|t| t.0 == "out.bias").unwrap();
        t.1 = Dtype::F16;
        t.3.truncate(6);
    });
    assert!(load_err(&b).starts_with("tensor `out.bias` is F16 in the weight file"));
}

#[test]
fn garbage_and_truncated_bytes() {
    let good = fixture("corner", "weights.safetensors");
    for cut in [0, 7, 8, 100, good.len() / 2, good.len() - 1] {
        let e = load_err(&good[..cut]);
        assert!(
            e.starts_with("not a valid safetensors file"),
            "cut {cut}: {e}"
        );
    }
    assert!(load_err(&[0xff; 64]).starts_with("not a valid safetensors file"));
}

/// The int8 seed U-Net's file, edited.
fn int8_err(edit: impl Fn(&mut Vec<(String, Dtype, Vec<usize>, Vec<u8>)>)) -> String {
    let b = edited_file(&fixture("int8/seed_unet", "weights.safetensors"), edit);
    match SeedUNetInt8::from_safetensors(&b) {
        Ok(_) => panic!("a bad int8 file loaded"),
        Err(e) => e.to_string(),
    }
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[test]
fn int8_fixture_loads() {
    assert!(
        SeedUNetInt8::from_safetensors(&fixture("int8/seed_unet", "weights.safetensors")).is_ok()
    );
}

#[test]
fn int8_concat_operands_quantized_differently() {
    let e = int8_err(|ts| {
        let t = ts.iter_mut().find(|t| t.0 == "up1.quant").unwrap();
        t.3 = f32_bytes(&[0.05, -128.0]);
    });
    assert_eq!(
        e,
        "bad int8 quantization in the weight file: `merge1` (concat) keeps one quantization, but operand `up1` has scale 0.05 and zero point -128 where `conv3` has 0.033804398 and -128 (TFLite's int8 spec gives them one)"
    );
}

#[test]
fn int8_kernel_stored_as_f32() {
    let e = int8_err(|ts| {
        let t = ts.iter_mut().find(|t| t.0 == "conv2.kernel").unwrap();
        t.1 = Dtype::F32;
        t.3 = vec![0; t.3.len() * 4];
    });
    assert_eq!(
        e,
        "tensor `conv2.kernel` is F32 in the weight file; this quantized network needs I8 (TFLite int8: I8 kernels, I32 biases, F32 scales)"
    );
}

#[test]
fn int8_bad_scales() {
    let e = int8_err(|ts| {
        let t = ts.iter_mut().find(|t| t.0 == "conv2.kernel_scale").unwrap();
        t.3[8..12].copy_from_slice(&f32::NAN.to_le_bytes());
    });
    assert_eq!(
        e,
        "bad int8 quantization in the weight file: `conv2.kernel_scale` of filter 2 is NaN; scales must be positive and finite"
    );
    let e = int8_err(|ts| {
        let t = ts.iter_mut().find(|t| t.0 == "x.quant").unwrap();
        t.3 = f32_bytes(&[0.01, 200.0]);
    });
    assert_eq!(
        e,
        "bad int8 quantization in the weight file: `x.quant` has scale 0.01 (must be positive and finite) and zero point 200 (must be an integer in [-128, 127])"
    );
    let e = int8_err(|ts| ts.retain(|t| t.0 != "out.kernel_scale"));
    assert_eq!(
        e,
        "weight file has no tensor `out.kernel_scale` (the network needs it with shape [3])"
    );
}
