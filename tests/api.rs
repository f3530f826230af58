//! The generated API beyond one input and one output: several inputs, a tuple of
//! outputs, a `static` workspace, summary contents, literal values.

use skipnet::network;
use std::sync::Mutex;

network! {
    /// Two inputs (one deliberately called `ws`), two outputs, no weights.
    pub TwoHeads(ws: [4, 4, 2], y: [4, 4, 2]) -> (s, m) {
        s = add(ws, y, ws);
        m: [2, 2, 2] = max_pool2d(relu(s), 2);
    }
}

fn no_weights() -> Vec<u8> {
    let empty: Vec<(&str, safetensors::tensor::TensorView<'_>)> = Vec::new();
    safetensors::serialize(empty, &None).unwrap()
}

static WS: Mutex<TwoHeadsWorkspace> = Mutex::new(TwoHeadsWorkspace::new());

#[test]
fn several_inputs_and_outputs_with_literal_values() {
    assert_eq!(TwoHeads::INPUT_SHAPES, [&[4, 4, 2][..], &[4, 4, 2][..]]);
    assert_eq!(TwoHeads::OUTPUT_SHAPES, [&[4, 4, 2][..], &[2, 2, 2][..]]);
    assert_eq!(TwoHeads::OUTPUT_SHAPE, [4, 4, 2]);
    let net = TwoHeads::from_safetensors(&no_weights()).unwrap();
    let a: [f32; 32] = std::array::from_fn(|i| i as f32 - 16.0);
    let b = [1.0f32; 32];
    let mut ws = WS.lock().unwrap();
    let (s, m) = net.forward(&mut ws, &a, &b);
    let want_s: Vec<f32> = a.iter().map(|v| 2.0 * v + 1.0).collect();
    assert_eq!(&s[..], &want_s[..]);
    // 2x2 windows over relu(s); channel c of pixel (y, x) is index (y*4 + x)*2 + c.
    let relu_s = |y: usize, x: usize, c: usize| want_s[(y * 4 + x) * 2 + c].max(0.0);
    for (k, got) in m.iter().enumerate() {
        let (py, px, c) = (k / 4, (k / 2) % 2, k % 2);
        let want = (0..2)
            .flat_map(|dy| (0..2).map(move |dx| (2 * py + dy, 2 * px + dx)))
            .map(|(y, x)| relu_s(y, x, c))
            .fold(f32::MIN, f32::max);
        assert_eq!(*got, want, "m[{k}]");
    }
}

#[test]
fn extra_tensor_in_a_weightless_net_is_an_error() {
    let data = [0u8; 4];
    let view =
        safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![1], &data).unwrap();
    let bytes = safetensors::serialize([("stray.kernel", view)], &None).unwrap();
    let err = TwoHeads::from_safetensors(&bytes)
        .err()
        .expect("stray tensor rejected");
    assert!(err.to_string().contains("`stray.kernel`"), "{err}");
}

#[test]
fn network_is_send_and_sync_and_threads_agree() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<TwoHeads>();
    assert_send_sync::<TwoHeadsWorkspace>();
    let net = TwoHeads::from_safetensors(&no_weights()).unwrap();
    let a: [f32; 32] = std::array::from_fn(|i| (i as f32).sin());
    let b: [f32; 32] = std::array::from_fn(|i| (i as f32).cos());
    let results: Vec<Vec<f32>> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..2)
            .map(|_| {
                sc.spawn(|| {
                    let mut ws = TwoHeads::workspace();
                    let (s, m) = net.forward(&mut ws, &a, &b);
                    s.iter().chain(m.iter()).copied().collect()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(results[0], results[1]);
}

#[test]
fn summary_lists_layers_shapes_and_arena() {
    let s = TwoHeads::summary();
    assert!(s.contains("s (add)"), "{s}");
    assert!(s.contains("relu_1 (relu)"), "{s}");
    assert!(s.contains("m (max_pool2d)"), "{s}");
    assert!(s.contains("[2, 2, 2]"), "{s}");
    assert!(
        s.contains(&format!("ARENA_LEN: {} f32", TwoHeads::ARENA_LEN)),
        "{s}"
    );
    // s lives to the end (an output) and relu(s) overlaps it in time: no
    // reuse possible. m's 8 floats reserve 16: every f32 tensor starts on a
    // 64-byte cache line.
    assert_eq!(TwoHeads::ARENA_LEN, 32 + 32 + 16);
}

#[test]
fn nan_and_inf_inputs_propagate_without_panicking() {
    let net = TwoHeads::from_safetensors(&no_weights()).unwrap();
    let mut ws = TwoHeads::workspace();
    let mut a = [0.0f32; 32];
    a[0] = f32::NAN;
    a[2] = f32::INFINITY;
    let (s, m) = net.forward(&mut ws, &a, &[0.0; 32]);
    assert!(s[0].is_nan());
    assert_eq!(s[2], f32::INFINITY);
    assert!(m[0].is_nan());
}

network! {
    /// A separable conv whose depthwise output (12 floats) is not a whole
    /// number of the planner's 16-float spans: its scratch is longer.
    pub UnalignedSeparable(x: [4, 1, 3]) -> y {
        y = separable_conv2d(x, 2, 1);
    }
}

/// Found by `tools/importer_fuzz.py`: the pointwise conv was handed the whole
/// (rounded-up) scratch and panicked on its input length.
#[test]
fn separable_conv_with_unaligned_scratch_runs() {
    let f = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    // Depthwise [1, 1, 3, 1]: channel weights 1, 2, 3; pointwise [1, 1, 3, 2];
    // bias [2].
    let (dw, pw, b) = (
        f(&[1.0, 2.0, 3.0]),
        f(&[1.0, 0.0, 0.0, 1.0, 1.0, 1.0]),
        f(&[0.5, -0.5]),
    );
    use safetensors::{tensor::TensorView, Dtype};
    let bytes = safetensors::serialize(
        [
            (
                "y.depthwise_kernel",
                TensorView::new(Dtype::F32, vec![1, 1, 3, 1], &dw).unwrap(),
            ),
            (
                "y.pointwise_kernel",
                TensorView::new(Dtype::F32, vec![1, 1, 3, 2], &pw).unwrap(),
            ),
            ("y.bias", TensorView::new(Dtype::F32, vec![2], &b).unwrap()),
        ],
        &None,
    )
    .unwrap();
    let net = UnalignedSeparable::from_safetensors(&bytes).unwrap();
    let mut ws = UnalignedSeparable::workspace();
    let x: [f32; 12] = core::array::from_fn(|i| i as f32);
    let y = net.forward(&mut ws, &x);
    for p in 0..4 {
        let (a, b2, c) = (x[3 * p], 2.0 * x[3 * p + 1], 3.0 * x[3 * p + 2]);
        assert_eq!(y[2 * p], a + c + 0.5, "pixel {p}");
        assert_eq!(y[2 * p + 1], b2 + c - 0.5, "pixel {p}");
    }
}
