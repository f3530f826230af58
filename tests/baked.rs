//! Weights baked in at compile time (`#[weights = "..."]`): `BAKED` is a
//! `const`, usable in a `static`, and its `forward` equals the run-time-loaded
//! network's bit for bit.

mod common;
use common::*;
use skipnet::network;

seed_unet! {
    /// The seed U-Net with the Keras fixture's weights in static memory.
    #[weights = "tests/fixtures/seed_unet/weights.safetensors"]
    BakedUNet([32, 32, 3]) -> out
}

apes_block_net! {
    #[weights = "tests/fixtures/apes_block_net/weights.safetensors"]
    BakedApes
}

network! {
    /// Batch norms folded at compile time, depthwise and separable convs.
    #[weights = "tests/fixtures/mobilenet/weights.safetensors"]
    pub BakedMobileNet(x: [32, 32, 3]) -> fc {
        stem    = conv2d(x, 16, 3, strides = 2, padding = same, use_bias = false);
        stem_bn = batch_norm(stem);
        dw1     = depthwise_conv2d(relu6(stem_bn), 3, padding = same, use_bias = false);
        dw1_bn  = batch_norm(dw1);
        pw1     = conv2d(relu6(dw1_bn), 24, 1, use_bias = false);
        pw1_bn  = batch_norm(pw1);
        sep1    = separable_conv2d(relu6(pw1_bn), 32, 3, strides = 2, padding = same,
                                   depth_multiplier = 2, activation = relu);
        sep2    = separable_conv2d(sep1, 48, (3, 1), activation = relu6);
        fc      = dense(global_avg_pool2d(sep2), 5, activation = softmax);
    }
}

convnext_block! {
    /// `dense` on a map lowered to 1x1 convs, a layer scale folded into the
    /// second at compile time.
    #[weights = "tests/fixtures/convnext_block/weights.safetensors"]
    BakedConvNext
}

static NET: BakedUNet = BakedUNet::BAKED;

#[test]
fn baked_forward_equals_loaded_forward_bit_for_bit() {
    let loaded = SkipUNet::from_safetensors(&fixture("seed_unet", "weights.safetensors")).unwrap();
    let io = fixture("seed_unet", "io.safetensors");
    let x = io_tensor::<3072>(&io, "x", &[32, 32, 3]);
    let y = io_tensor::<3072>(&io, "y", &[32, 32, 3]);
    let mut ws_a = SkipUNet::workspace();
    let mut ws_b = BakedUNet::workspace();
    let a = loaded.forward(&mut ws_a, &x);
    let b = NET.forward(&mut ws_b, &x);
    assert_eq!(a.map(f32::to_bits), b.map(f32::to_bits));
    assert!(max_abs_diff(b, &y[..]) <= 1e-4);

    let loaded =
        ApesBlockNet::from_safetensors(&fixture("apes_block_net", "weights.safetensors")).unwrap();
    let io = fixture("apes_block_net", "io.safetensors");
    let x = io_tensor::<65536>(&io, "x", &[64, 64, 16]);
    let mut ws_a = ApesBlockNet::workspace();
    let mut ws_b = BakedApes::workspace();
    let a = *loaded.forward(&mut ws_a, &x);
    let b = *BakedApes::BAKED.forward(&mut ws_b, &x);
    assert_eq!(a.map(f32::to_bits), b.map(f32::to_bits));
}

#[test]
fn baked_batch_norm_folds_equal_loaded_ones_bit_for_bit() {
    let loaded = MobileNet::from_safetensors(&fixture("mobilenet", "weights.safetensors")).unwrap();
    let io = fixture("mobilenet", "io.safetensors");
    let x = io_tensor::<3072>(&io, "x", &[32, 32, 3]);
    let mut ws_a = MobileNet::workspace();
    let mut ws_b = BakedMobileNet::workspace();
    let a = *loaded.forward(&mut ws_a, &x);
    let b = *BakedMobileNet::BAKED.forward(&mut ws_b, &x);
    assert_eq!(a.map(f32::to_bits), b.map(f32::to_bits));
}

#[test]
fn baked_layer_scale_folds_equal_loaded_ones_bit_for_bit() {
    let path = fixture("convnext_block", "weights.safetensors");
    let loaded = ConvNextBlock::from_safetensors(&path).unwrap();
    let io = fixture("convnext_block", "io.safetensors");
    let x = io_tensor::<1024>(&io, "x", &[8, 8, 16]);
    let mut ws_a = ConvNextBlock::workspace();
    let mut ws_b = BakedConvNext::workspace();
    let a = *loaded.forward(&mut ws_a, &x);
    let b = *BakedConvNext::BAKED.forward(&mut ws_b, &x);
    assert_eq!(a.map(f32::to_bits), b.map(f32::to_bits));
}

#[test]
fn baked_network_runs_from_a_static_workspace() {
    static WS: skipnet::StaticWorkspace<{ BakedUNet::ARENA_LEN }, BakedUNet> =
        skipnet::StaticWorkspace::new();
    let ws = WS.take().expect("first take");
    let y = NET.forward(ws, &[0.5; 3072]);
    assert!(y.iter().all(|v| v.is_finite()));
    assert!(WS.take().is_none());
}
