//! A bad weight file is an `Err` naming the tensor and both shapes, never a panic.

mod common;
use common::*;
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

/// The corner fixture's tensors, edited by `edit`, serialized again.
fn edited(edit: impl Fn(&mut Vec<(String, Dtype, Vec<usize>, Vec<u8>)>)) -> Vec<u8> {
    let bytes = fixture("corner", "weights.safetensors");
    let st = SafeTensors::deserialize(&bytes).unwrap();
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
