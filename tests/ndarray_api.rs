//! `forward_array` (feature `ndarray`) equals `forward` and has Keras's shape.
#![cfg(feature = "ndarray")]

mod common;
use common::*;
use skipnet::ndarray::Array3;

#[test]
fn forward_array_equals_forward() {
    let net = Corner::from_safetensors(&fixture("corner", "weights.safetensors")).unwrap();
    let x = Array3::from_shape_fn((13, 12, 5), |(h, w, c)| {
        (h as f32 - w as f32) * 0.1 + c as f32 * 0.01
    });
    let mut ws = Corner::workspace();
    let y = net.forward_array(&mut ws, x.view()).to_owned();
    assert_eq!(y.shape(), &[3, 3, 3]);
    let flat: &[f32; 780] = x.as_slice().unwrap().try_into().unwrap();
    let mut ws2 = Corner::workspace();
    assert_eq!(y.as_slice().unwrap(), &net.forward(&mut ws2, flat)[..]);
}

#[test]
#[should_panic(expected = "must have shape [13, 12, 5]")]
fn forward_array_names_the_expected_shape() {
    let net = Corner::from_safetensors(&fixture("corner", "weights.safetensors")).unwrap();
    let x = Array3::<f32>::zeros((12, 13, 5));
    let mut ws = Corner::workspace();
    let _ = net.forward_array(&mut ws, x.view());
}
