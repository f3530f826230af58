//! Every fixture network against Keras's own output (tools/keras_fixtures.py):
//! max abs error <= 1e-4, on every convolution kernel (ISA) this machine runs
//! (`Workspace::set_isa`; `SKIPNET_REQUIRE_ISA` makes a missing one fail).

mod common;
use common::*;
use skipnet_runtime::testing::isas_under_test;

const TOL: f32 = 1e-4;

#[test]
fn seed_unet_matches_keras() {
    let net = SkipUNet::from_safetensors(&fixture("seed_unet", "weights.safetensors")).unwrap();
    let io = fixture("seed_unet", "io.safetensors");
    let x = io_tensor::<3072>(&io, "x", &[32, 32, 3]);
    let y = io_tensor::<3072>(&io, "y", &[32, 32, 3]);
    let mut ws = SkipUNet::workspace();
    for isa in isas_under_test("seed_unet_matches_keras") {
        ws.set_isa(isa).unwrap();
        let err = max_abs_diff(net.forward(&mut ws, &x), &y[..]);
        println!("seed_unet max abs error {err:e} ({isa:?})");
        assert!(err <= TOL, "{isa:?}: max abs error {err}");
        // A second call on the dirty workspace gives the same answer.
        let again = net.forward(&mut ws, &x).to_vec();
        assert_eq!(max_abs_diff(&again, &y[..]), err);
    }
}

/// The check every test above and below makes (`max_abs_diff(..) <= TOL`)
/// fails on an output that is all NaN: the seed U-Net with its last layer's
/// bias poisoned (a linear layer, so every output is NaN).
#[test]
fn an_all_nan_output_fails_the_parity_check() {
    let bytes = fixture("seed_unet", "weights.safetensors");
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let poisoned: Vec<(String, Vec<u8>, Vec<usize>)> = st
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let mut data = view.data().to_vec();
            if name == "out.bias" {
                for b in data.chunks_exact_mut(4) {
                    b.copy_from_slice(&f32::NAN.to_le_bytes());
                }
            }
            (name, data, view.shape().to_vec())
        })
        .collect();
    let views: Vec<_> = poisoned
        .iter()
        .map(|(name, data, shape)| {
            let view =
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), data)
                    .unwrap();
            (name.as_str(), view)
        })
        .collect();
    let bytes = safetensors::serialize(views, &None).unwrap();
    let net = SkipUNet::from_safetensors(&bytes).unwrap();
    let io = fixture("seed_unet", "io.safetensors");
    let x = io_tensor::<3072>(&io, "x", &[32, 32, 3]);
    let y = io_tensor::<3072>(&io, "y", &[32, 32, 3]);
    let mut ws = SkipUNet::workspace();
    let out = net.forward(&mut ws, &x);
    assert!(
        out.iter().all(|v| v.is_nan()),
        "the poisoned bias reaches every output"
    );
    let err = max_abs_diff(out, &y[..]);
    assert_eq!(err, f32::INFINITY);
    assert!(err > TOL, "an all-NaN output must fail the parity check");
}

#[test]
fn apes_net_matches_keras() {
    let net = ApesNet::from_safetensors(&fixture("apes_net", "weights.safetensors")).unwrap();
    let io = fixture("apes_net", "io.safetensors");
    let x = io_tensor::<65536>(&io, "x", &[64, 64, 16]);
    let y = io_tensor::<4096>(&io, "y", &[32, 32, 4]);
    let mut ws = ApesNet::workspace();
    for isa in isas_under_test("apes_net_matches_keras") {
        ws.set_isa(isa).unwrap();
        let err = max_abs_diff(net.forward(&mut ws, &x), &y[..]);
        println!("apes_net max abs error {err:e} ({isa:?})");
        assert!(err <= TOL, "{isa:?}: max abs error {err}");
    }
}

#[test]
fn corner_cases_match_keras() {
    let net = Corner::from_safetensors(&fixture("corner", "weights.safetensors")).unwrap();
    let io = fixture("corner", "io.safetensors");
    let x = io_tensor::<780>(&io, "x", &[13, 12, 5]);
    let y = io_tensor::<27>(&io, "y", &[3, 3, 3]);
    let mut ws = Corner::workspace();
    for isa in isas_under_test("corner_cases_match_keras") {
        ws.set_isa(isa).unwrap();
        let err = max_abs_diff(net.forward(&mut ws, &x), &y[..]);
        println!("corner max abs error {err:e} ({isa:?})");
        assert!(err <= TOL, "{isa:?}: max abs error {err}");
    }
}

#[test]
fn apes_block_net_matches_keras() {
    let net =
        ApesBlockNet::from_safetensors(&fixture("apes_block_net", "weights.safetensors")).unwrap();
    let io = fixture("apes_block_net", "io.safetensors");
    let x = io_tensor::<65536>(&io, "x", &[64, 64, 16]);
    let y = io_tensor::<10>(&io, "y", &[10]);
    let mut ws = ApesBlockNet::workspace();
    for isa in isas_under_test("apes_block_net_matches_keras") {
        ws.set_isa(isa).unwrap();
        let err = max_abs_diff(net.forward(&mut ws, &x), &y[..]);
        println!("apes_block_net max abs error {err:e} ({isa:?})");
        assert!(err <= TOL, "{isa:?}: max abs error {err}");
    }
}

#[test]
fn heads_match_keras() {
    let net = Heads::from_safetensors(&fixture("heads", "weights.safetensors")).unwrap();
    let io = fixture("heads", "io.safetensors");
    let x = io_tensor::<378>(&io, "x", &[9, 7, 6]);
    let y0 = io_tensor::<5>(&io, "y0", &[5]);
    let y1 = io_tensor::<3>(&io, "y1", &[3]);
    let mut ws = Heads::workspace();
    for isa in isas_under_test("heads_match_keras") {
        ws.set_isa(isa).unwrap();
        let (logits, score) = net.forward(&mut ws, &x);
        let err = max_abs_diff(logits, &y0[..]).max(max_abs_diff(score, &y1[..]));
        println!("heads max abs error {err:e} ({isa:?})");
        assert!(err <= TOL, "{isa:?}: max abs error {err}");
    }
}

#[test]
fn zoo_matches_keras() {
    let net = Zoo::from_safetensors(&fixture("zoo", "weights.safetensors")).unwrap();
    let io = fixture("zoo", "io.safetensors");
    let x = io_tensor::<480>(&io, "x", &[12, 10, 4]);
    let y0 = io_tensor::<150>(&io, "y0", &[6, 5, 5]);
    let y1 = io_tensor::<4>(&io, "y1", &[4]);
    let mut ws = Zoo::workspace();
    for isa in isas_under_test("zoo_matches_keras") {
        ws.set_isa(isa).unwrap();
        let (seg, cls) = net.forward(&mut ws, &x);
        let err = max_abs_diff(seg, &y0[..]).max(max_abs_diff(cls, &y1[..]));
        println!("zoo max abs error {err:e} ({isa:?})");
        assert!(err <= TOL, "{isa:?}: max abs error {err}");
    }
}

/// Squeeze-and-excite (MobileNetV3's and a dense gate): `global_avg_pool2d`
/// with `keepdims`, 1x1 convs on `[1, 1, C]`, broadcasting `multiply`.
#[test]
fn squeeze_excite_matches_keras() {
    let net =
        SqueezeExcite::from_safetensors(&fixture("squeeze_excite", "weights.safetensors")).unwrap();
    let io = fixture("squeeze_excite", "io.safetensors");
    let x = io_tensor::<1920>(&io, "x", &[10, 12, 16]);
    let y = io_tensor::<960>(&io, "y", &[10, 12, 8]);
    let summary = SqueezeExcite::summary();
    assert!(summary.contains("keepdims = true"), "{summary}");
    let mut ws = SqueezeExcite::workspace();
    for isa in isas_under_test("squeeze_excite_matches_keras") {
        ws.set_isa(isa).unwrap();
        let err = max_abs_diff(net.forward(&mut ws, &x), &y[..]);
        println!("squeeze_excite max abs error {err:e} ({isa:?})");
        assert!(err <= TOL, "{isa:?}: max abs error {err}");
    }
}

/// Keras's preprocessing layers: `Rescaling` (scale and offset) and
/// `Normalization` (per-channel mean and variance).
#[test]
fn preprocess_matches_keras() {
    let net = Preprocess::from_safetensors(&fixture("preprocess", "weights.safetensors")).unwrap();
    let io = fixture("preprocess", "io.safetensors");
    let x = io_tensor::<360>(&io, "x", &[12, 10, 3]);
    let y = io_tensor::<480>(&io, "y", &[12, 10, 4]);
    let mut ws = Preprocess::workspace();
    for isa in isas_under_test("preprocess_matches_keras") {
        ws.set_isa(isa).unwrap();
        let err = max_abs_diff(net.forward(&mut ws, &x), &y[..]);
        println!("preprocess max abs error {err:e} ({isa:?})");
        assert!(err <= TOL, "{isa:?}: max abs error {err}");
    }
}

/// Layer normalization (with and without center and scale) in a ConvNeXt
/// block.
#[test]
fn convnext_block_matches_keras() {
    let net =
        ConvNextBlock::from_safetensors(&fixture("convnext_block", "weights.safetensors")).unwrap();
    let io = fixture("convnext_block", "io.safetensors");
    let x = io_tensor::<1024>(&io, "x", &[8, 8, 16]);
    let y = io_tensor::<256>(&io, "y", &[8, 8, 4]);
    // The MLP's dense layers on the map run as 1x1 convs (packed GEMMs);
    // the layer scale is folded into the second, which adds the residual.
    let summary = ConvNextBlock::summary();
    for line in [
        "64 units as 1x1 conv gelu",
        "16 units as 1x1 conv ",
        "ls (layer_scale) ",
    ] {
        let row = summary.lines().find(|l| l.contains(line));
        let row = row.unwrap_or_else(|| panic!("no `{line}` in\n{summary}"));
        let fused = row.ends_with("computed straight into `res`");
        assert_eq!(fused, !line.contains("gelu"), "{row}");
    }
    let mut ws = ConvNextBlock::workspace();
    for isa in isas_under_test("convnext_block_matches_keras") {
        ws.set_isa(isa).unwrap();
        let err = max_abs_diff(net.forward(&mut ws, &x), &y[..]);
        println!("convnext_block max abs error {err:e} ({isa:?})");
        assert!(err <= TOL, "{isa:?}: max abs error {err}");
    }
}

/// The row of `summary()` for the binding `name` (its first word).
fn summary_row<'a>(summary: &'a str, name: &str) -> &'a str {
    summary
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no row for {name}:\n{summary}"))
}

/// `reshape` (EfficientNet's squeeze-and-excite, an inferred size).
#[test]
fn efficient_se_matches_keras() {
    let net =
        EfficientSe::from_safetensors(&fixture("efficient_se", "weights.safetensors")).unwrap();
    let io = fixture("efficient_se", "io.safetensors");
    let x = io_tensor::<1024>(&io, "x", &[8, 8, 16]);
    let y = io_tensor::<512>(&io, "y", &[4, 16, 8]);
    assert_eq!(EfficientSe::OUTPUT_SHAPE, [4, 16, 8]);
    let mut ws = EfficientSe::workspace();
    for isa in isas_under_test("efficient_se_matches_keras") {
        ws.set_isa(isa).unwrap();
        let err = max_abs_diff(net.forward(&mut ws, &x), &y[..]);
        println!("efficient_se max abs error {err:e} ({isa:?})");
        assert!(err <= TOL, "{isa:?}: max abs error {err}");
    }
}

/// Grouped convs with one input channel per group run on the depthwise
/// kernel (the summary says so; `g`, two channels per group, does not) and
/// match Keras's Conv2D on every ISA.
#[test]
fn grouped_depthwise_matches_keras() {
    let net =
        GroupedDepthwise::from_safetensors(&fixture("grouped_depthwise", "weights.safetensors"))
            .unwrap();
    let io = fixture("grouped_depthwise", "io.safetensors");
    let x = io_tensor::<1080>(&io, "x", &[10, 9, 12]);
    let y = io_tensor::<384>(&io, "y", &[4, 4, 24]);
    let summary = GroupedDepthwise::summary();
    for name in ["a", "b", "c"] {
        assert!(
            summary_row(summary, name).contains("as depthwise"),
            "{name}:\n{summary}"
        );
    }
    assert!(
        !summary_row(summary, "g").contains("depthwise"),
        "{summary}"
    );
    for (conv, act) in [("a", "a_swish"), ("g", "g_gelu")] {
        let want = format!("computed straight into `{act}`");
        assert!(summary_row(summary, conv).ends_with(&want), "{summary}");
    }
    // The fused residual add: `c` computes `out`.
    assert!(
        summary_row(summary, "c").ends_with("computed straight into `out`"),
        "{summary}"
    );
    let mut ws = GroupedDepthwise::workspace();
    for isa in isas_under_test("grouped_depthwise_matches_keras") {
        ws.set_isa(isa).unwrap();
        let err = max_abs_diff(net.forward(&mut ws, &x), &y[..]);
        println!("grouped_depthwise max abs error {err:e} ({isa:?})");
        assert!(err <= TOL, "{isa:?}: max abs error {err}");
    }
}

/// A squeeze-and-excite product folded into the 1x1 conv reading it (the
/// gate scales that conv's kernel), and one kept as a pass where the
/// kernel is larger than the map.
#[test]
fn se_project_matches_keras() {
    let net = SeProject::from_safetensors(&fixture("se_project", "weights.safetensors")).unwrap();
    let io = fixture("se_project", "io.safetensors");
    let x = io_tensor::<1920>(&io, "x", &[12, 10, 16]);
    let y = io_tensor::<360>(&io, "y", &[3, 3, 40]);
    let summary = SeProject::summary();
    let row = |name: &str| summary_row(summary, name);
    assert!(
        row("excite").contains("never stored: `project` scales its kernel by the gate"),
        "{summary}"
    );
    assert!(!row("excite2").contains("never stored"), "{summary}");
    let mut ws = SeProject::workspace();
    for isa in isas_under_test("se_project_matches_keras") {
        ws.set_isa(isa).unwrap();
        let err = max_abs_diff(net.forward(&mut ws, &x), &y[..]);
        println!("se_project max abs error {err:e} ({isa:?})");
        assert!(err <= TOL, "{isa:?}: max abs error {err}");
    }
}

#[test]
fn decoder_matches_keras() {
    let net = Decoder::from_safetensors(&fixture("decoder", "weights.safetensors")).unwrap();
    let io = fixture("decoder", "io.safetensors");
    let x = io_tensor::<384>(&io, "x0", &[8, 8, 6]);
    let skip = io_tensor::<1024>(&io, "x1", &[16, 16, 4]);
    let y0 = io_tensor::<2520>(&io, "y0", &[14, 15, 12]);
    let y1 = io_tensor::<5202>(&io, "y1", &[34, 51, 3]);
    let mut ws = Decoder::workspace();
    for isa in isas_under_test("decoder_matches_keras") {
        ws.set_isa(isa).unwrap();
        let (u, w) = net.forward(&mut ws, &x, &skip);
        let err = max_abs_diff(u, &y0[..]).max(max_abs_diff(w, &y1[..]));
        println!("decoder max abs error {err:e} ({isa:?})");
        assert!(err <= TOL, "{isa:?}: max abs error {err}");
    }
}

#[test]
fn resnet_bn_matches_keras() {
    let net = ResNetBn::from_safetensors(&fixture("resnet_bn", "weights.safetensors")).unwrap();
    let io = fixture("resnet_bn", "io.safetensors");
    let x = io_tensor::<12288>(&io, "x", &[64, 64, 3]);
    let y = io_tensor::<10>(&io, "y", &[10]);
    let mut ws = ResNetBn::workspace();
    for isa in isas_under_test("resnet_bn_matches_keras") {
        ws.set_isa(isa).unwrap();
        let err = max_abs_diff(net.forward(&mut ws, &x), &y[..]);
        println!("resnet_bn max abs error {err:e} ({isa:?})");
        assert!(err <= TOL, "{isa:?}: max abs error {err}");
    }
}

#[test]
fn bilinear_matches_keras() {
    let net = Bilinear::from_safetensors(&fixture("bilinear", "weights.safetensors")).unwrap();
    let io = fixture("bilinear", "io.safetensors");
    let x = io_tensor::<60>(&io, "x", &[5, 4, 3]);
    let y = io_tensor::<960>(&io, "y", &[30, 8, 4]);
    let mut ws = Bilinear::workspace();
    for isa in isas_under_test("bilinear_matches_keras") {
        ws.set_isa(isa).unwrap();
        let err = max_abs_diff(net.forward(&mut ws, &x), &y[..]);
        println!("bilinear max abs error {err:e} ({isa:?})");
        assert!(err <= TOL, "{isa:?}: max abs error {err}");
    }
}

#[test]
fn mobilenet_matches_keras() {
    let net = MobileNet::from_safetensors(&fixture("mobilenet", "weights.safetensors")).unwrap();
    let io = fixture("mobilenet", "io.safetensors");
    let x = io_tensor::<3072>(&io, "x", &[32, 32, 3]);
    let y = io_tensor::<5>(&io, "y", &[5]);
    let mut ws = MobileNet::workspace();
    for isa in isas_under_test("mobilenet_matches_keras") {
        ws.set_isa(isa).unwrap();
        let err = max_abs_diff(net.forward(&mut ws, &x), &y[..]);
        println!("mobilenet max abs error {err:e} ({isa:?})");
        assert!(err <= TOL, "{isa:?}: max abs error {err}");
    }
}

#[test]
fn standalone_batch_norm_matches_keras() {
    let net =
        BnStandalone::from_safetensors(&fixture("bn_standalone", "weights.safetensors")).unwrap();
    let io = fixture("bn_standalone", "io.safetensors");
    let x = io_tensor::<120>(&io, "x", &[6, 5, 4]);
    let y = io_tensor::<240>(&io, "y", &[6, 5, 8]);
    let mut ws = BnStandalone::workspace();
    for isa in isas_under_test("standalone_batch_norm_matches_keras") {
        ws.set_isa(isa).unwrap();
        let err = max_abs_diff(net.forward(&mut ws, &x), &y[..]);
        println!("bn_standalone max abs error {err:e} ({isa:?})");
        assert!(err <= TOL, "{isa:?}: max abs error {err}");
    }
}

#[test]
fn unet_crop_matches_keras() {
    let net = UnetCrop::from_safetensors(&fixture("unet_crop", "weights.safetensors")).unwrap();
    let io = fixture("unet_crop", "io.safetensors");
    let x = io_tensor::<432>(&io, "x", &[12, 12, 3]);
    let y = io_tensor::<576>(&io, "y", &[12, 12, 4]);
    let mut ws = UnetCrop::workspace();
    for isa in isas_under_test("unet_crop_matches_keras") {
        ws.set_isa(isa).unwrap();
        let err = max_abs_diff(net.forward(&mut ws, &x), &y[..]);
        println!("unet_crop max abs error {err:e} ({isa:?})");
        assert!(err <= TOL, "{isa:?}: max abs error {err}");
    }
}

#[test]
fn arena_reuses_memory() {
    for (name, arena, naive, bound) in [
        (
            "seed_unet",
            SkipUNet::ARENA_LEN,
            SkipUNet::NAIVE_ARENA_LEN,
            SkipUNet::LIVE_SET_BOUND,
        ),
        (
            "apes_net",
            ApesNet::ARENA_LEN,
            ApesNet::NAIVE_ARENA_LEN,
            ApesNet::LIVE_SET_BOUND,
        ),
        (
            "corner",
            Corner::ARENA_LEN,
            Corner::NAIVE_ARENA_LEN,
            Corner::LIVE_SET_BOUND,
        ),
        (
            "apes_block_net",
            ApesBlockNet::ARENA_LEN,
            ApesBlockNet::NAIVE_ARENA_LEN,
            ApesBlockNet::LIVE_SET_BOUND,
        ),
        (
            "heads",
            Heads::ARENA_LEN,
            Heads::NAIVE_ARENA_LEN,
            Heads::LIVE_SET_BOUND,
        ),
        (
            "zoo",
            Zoo::ARENA_LEN,
            Zoo::NAIVE_ARENA_LEN,
            Zoo::LIVE_SET_BOUND,
        ),
        (
            "squeeze_excite",
            SqueezeExcite::ARENA_LEN,
            SqueezeExcite::NAIVE_ARENA_LEN,
            SqueezeExcite::LIVE_SET_BOUND,
        ),
        (
            "preprocess",
            Preprocess::ARENA_LEN,
            Preprocess::NAIVE_ARENA_LEN,
            Preprocess::LIVE_SET_BOUND,
        ),
        (
            "convnext_block",
            ConvNextBlock::ARENA_LEN,
            ConvNextBlock::NAIVE_ARENA_LEN,
            ConvNextBlock::LIVE_SET_BOUND,
        ),
        (
            "grouped_depthwise",
            GroupedDepthwise::ARENA_LEN,
            GroupedDepthwise::NAIVE_ARENA_LEN,
            GroupedDepthwise::LIVE_SET_BOUND,
        ),
        (
            "se_project",
            SeProject::ARENA_LEN,
            SeProject::NAIVE_ARENA_LEN,
            SeProject::LIVE_SET_BOUND,
        ),
        (
            "efficient_se",
            EfficientSe::ARENA_LEN,
            EfficientSe::NAIVE_ARENA_LEN,
            EfficientSe::LIVE_SET_BOUND,
        ),
        (
            "mobilenet",
            MobileNet::ARENA_LEN,
            MobileNet::NAIVE_ARENA_LEN,
            MobileNet::LIVE_SET_BOUND,
        ),
        (
            "resnet_bn",
            ResNetBn::ARENA_LEN,
            ResNetBn::NAIVE_ARENA_LEN,
            ResNetBn::LIVE_SET_BOUND,
        ),
        (
            "decoder",
            Decoder::ARENA_LEN,
            Decoder::NAIVE_ARENA_LEN,
            Decoder::LIVE_SET_BOUND,
        ),
    ] {
        println!("{name}: ARENA_LEN {arena}, naive sum {naive}, live-set bound {bound}");
        assert!(arena >= bound, "{name}: plan below the lower bound");
        assert!(
            arena < naive,
            "{name}: arena {arena} reuses nothing of {naive}"
        );
        assert!(
            arena * 100 <= bound * 105,
            "{name}: arena {arena} is over 1.05x the live-set bound {bound}"
        );
    }
}

seed_unet! {
    /// `SkipUNet` with the direct algorithm everywhere (`#[winograd = false]`,
    /// as the embedded example compiles it).
    #[winograd = false]
    SkipUNetDirect([32, 32, 3]) -> out
}

// The seed U-Net's best plan when every tensor is materialized is 98,304 f32;
// folding the upsamples into the convs that read them reaches issue 4's
// live-set target of 49,152 with the direct algorithm (checked at compile
// time). By default a conv may run by Winograd, whose scratch (at most the
// layer's own operands, `winograd::choose`) is in the arena: none of the
// seed U-Net's at 32x32 qualifies, so it keeps its plan.
const _: () = assert!(SkipUNetDirect::ARENA_LEN <= 49_152);
const _: () = assert!(SkipUNet::ARENA_LEN <= 49_152);

#[test]
fn seed_unet_without_winograd_matches_keras() {
    let net =
        SkipUNetDirect::from_safetensors(&fixture("seed_unet", "weights.safetensors")).unwrap();
    let io = fixture("seed_unet", "io.safetensors");
    let x = io_tensor::<3072>(&io, "x", &[32, 32, 3]);
    let y = io_tensor::<3072>(&io, "y", &[32, 32, 3]);
    let mut ws = SkipUNetDirect::workspace();
    for isa in isas_under_test("seed_unet_without_winograd_matches_keras") {
        ws.set_isa(isa).unwrap();
        let err = max_abs_diff(net.forward(&mut ws, &x), &y[..]);
        println!("seed_unet (direct) max abs error {err:e} ({isa:?})");
        assert!(err <= TOL, "{isa:?}: max abs error {err}");
    }
    assert!(!SkipUNetDirect::summary().contains("winograd"));
}

seed_unet! {
    /// `SkipUNet` as a server builds it (`#[winograd = fast]`): Winograd
    /// wherever it beats the direct kernel, the arena growing for its scratch.
    #[winograd = fast]
    SkipUNetFast([32, 32, 3]) -> out
}

// `#[winograd = fast]` pays arena for speed: up3 and up4 (16x16 and 32x32
// outputs read through a folded upsample) run by Winograd, whose scratch no
// free memory at their steps holds, so the arena grows past the default's.
const _: () = assert!(SkipUNetFast::ARENA_LEN > SkipUNet::ARENA_LEN);
// ... and its plan is still at its live-set bound (the scratch counted in the
// live sets of its steps).
const _: () = assert!(SkipUNetFast::ARENA_LEN * 100 <= SkipUNetFast::LIVE_SET_BOUND * 105);

/// `#[winograd = fast]` takes Winograd where the default keeps the direct
/// kernel to keep its arena, and still matches Keras on every ISA.
#[test]
fn seed_unet_with_winograd_fast_matches_keras() {
    let net = SkipUNetFast::from_safetensors(&fixture("seed_unet", "weights.safetensors")).unwrap();
    let io = fixture("seed_unet", "io.safetensors");
    let x = io_tensor::<3072>(&io, "x", &[32, 32, 3]);
    let y = io_tensor::<3072>(&io, "y", &[32, 32, 3]);
    let mut ws = SkipUNetFast::workspace();
    for isa in isas_under_test("seed_unet_with_winograd_fast_matches_keras") {
        ws.set_isa(isa).unwrap();
        let err = max_abs_diff(net.forward(&mut ws, &x), &y[..]);
        println!("seed_unet (winograd = fast) max abs error {err:e} ({isa:?})");
        assert!(err <= TOL, "{isa:?}: max abs error {err}");
    }
    let summary = SkipUNetFast::summary();
    let winograd: Vec<&str> = summary
        .lines()
        .filter(|l| l.contains("winograd F(4x4,3x3)"))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(winograd, ["up3", "up4"], "{summary}");
    assert!(!SkipUNet::summary().contains("winograd"));
}

apes_block_net! {
    /// `ApesBlockNet` with the direct algorithm everywhere
    /// (`#[winograd = false]`): no Winograd scratch in its arena.
    #[winograd = false]
    ApesBlockNetDirect
}

// Winograd's scratch is in the arena (and in the live set of its step).
const _: () = assert!(ApesBlockNet::ARENA_LEN > ApesBlockNetDirect::ARENA_LEN);

/// The direct-only build matches Keras too, and the summaries say which
/// algorithm each layer runs.
#[test]
fn apes_block_net_without_winograd_matches_keras() {
    let bytes = fixture("apes_block_net", "weights.safetensors");
    let net = ApesBlockNetDirect::from_safetensors(&bytes).unwrap();
    let io = fixture("apes_block_net", "io.safetensors");
    let x = io_tensor::<65536>(&io, "x", &[64, 64, 16]);
    let y = io_tensor::<10>(&io, "y", &[10]);
    let mut ws = ApesBlockNetDirect::workspace();
    for isa in isas_under_test("apes_block_net_without_winograd_matches_keras") {
        ws.set_isa(isa).unwrap();
        let err = max_abs_diff(net.forward(&mut ws, &x), &y[..]);
        println!("apes_block_net (direct) max abs error {err:e} ({isa:?})");
        assert!(err <= TOL, "{isa:?}: max abs error {err}");
    }
    assert!(!ApesBlockNetDirect::summary().contains("winograd"));
    let winograd_layers = ApesBlockNet::summary()
        .lines()
        .filter(|l| l.contains("winograd F(4x4,3x3)"))
        .count();
    // The stem (64x64x16 -> 32), b1_conv3 (64x64x32) and b2_conv3 (32x32x32
    // -> 64, in blocks of 8 tiles to fit), and block 3's 16x16 convs: their
    // scratch (a block per thread of two) exceeds their operands, but fits in
    // arena memory free at their steps: the arena stays what it was with
    // three Winograd layers.
    assert_eq!(winograd_layers, 5, "{}", ApesBlockNet::summary());
    assert_eq!(
        ApesBlockNet::ARENA_LEN,
        376_192,
        "{}",
        ApesBlockNet::summary()
    );
}

apes_block_net! {
    /// `ApesBlockNet` with Winograd F(2x2) only (`#[winograd = f2]`, for
    /// networks that amplify F(4x4)'s rounding).
    #[winograd = f2]
    ApesBlockNetF2
}

/// `#[winograd = f2]`: the layers F(4x4) would take run F(2x2), and the
/// network still matches Keras.
#[test]
fn apes_block_net_with_winograd_f2_matches_keras() {
    let bytes = fixture("apes_block_net", "weights.safetensors");
    let net = ApesBlockNetF2::from_safetensors(&bytes).unwrap();
    let io = fixture("apes_block_net", "io.safetensors");
    let x = io_tensor::<65536>(&io, "x", &[64, 64, 16]);
    let y = io_tensor::<10>(&io, "y", &[10]);
    let mut ws = ApesBlockNetF2::workspace();
    for isa in isas_under_test("apes_block_net_with_winograd_f2_matches_keras") {
        ws.set_isa(isa).unwrap();
        let err = max_abs_diff(net.forward(&mut ws, &x), &y[..]);
        println!("apes_block_net (F2) max abs error {err:e} ({isa:?})");
        assert!(err <= TOL, "{isa:?}: max abs error {err}");
    }
    let summary = ApesBlockNetF2::summary();
    assert!(!summary.contains("F(4x4"), "{summary}");
    let f2_layers = summary
        .lines()
        .filter(|l| l.contains("winograd F(2x2,3x3)"))
        .count();
    assert!(f2_layers >= 3, "{summary}");
}

/// Prints and returns the worst of `(output name, got, Keras)` errors.
fn worst_of(fixture: &str, outs: &[(&str, &[f32], &[f32])]) -> f32 {
    let mut worst = 0.0f32;
    for &(name, got, want) in outs {
        let err = max_abs_diff(got, want);
        println!("{fixture}.{name} max abs error {err:e}");
        // Never NaN: `max_abs_diff` is infinite on any non-finite difference.
        worst = worst.max(err);
    }
    println!("{fixture} max abs error {worst:e}");
    worst
}

/// Long kernels on few channels (the (1, 64) kernel on 40 channels `same`
/// whose 2,560-float row-merged reduction unit crossed the 2,048-float pass
/// and was read from the pass's start), on every ISA of the machine.
#[test]
fn long_reduction_matches_keras() {
    let net =
        LongReduction::from_safetensors(&fixture("long_reduction", "weights.safetensors")).unwrap();
    let io = fixture("long_reduction", "io.safetensors");
    let x = io_tensor::<10240>(&io, "x0", &[4, 64, 40]);
    let v = io_tensor::<6144>(&io, "x1", &[64, 6, 16]);
    let y0 = io_tensor::<12288>(&io, "y0", &[4, 64, 48]);
    let y1 = io_tensor::<1024>(&io, "y1", &[2, 32, 16]);
    let y2 = io_tensor::<352>(&io, "y2", &[2, 22, 8]);
    let y3 = io_tensor::<120>(&io, "y3", &[2, 5, 12]);
    let y4 = io_tensor::<1536>(&io, "y4", &[32, 6, 8]);
    let y5 = io_tensor::<2048>(&io, "y5", &[4, 64, 8]);
    let y6 = io_tensor::<30720>(&io, "y6", &[4, 64, 120]);
    let y7 = io_tensor::<2048>(&io, "y7", &[4, 64, 8]);
    let mut ws = LongReduction::workspace();
    for isa in isas_under_test("long_reduction_matches_keras") {
        ws.set_isa(isa).unwrap();
        let (cat, top, top3, v3, tall, dil, dws, up) = net.forward(&mut ws, &x, &v);
        let outs: [(&str, &[f32], &[f32]); 8] = [
            ("cat", cat, &y0[..]),
            ("top", top, &y1[..]),
            ("top3", top3, &y2[..]),
            ("v3", v3, &y3[..]),
            ("tall", tall, &y4[..]),
            ("dil", dil, &y5[..]),
            ("dws", dws, &y6[..]),
            ("up", up, &y7[..]),
        ];
        let err = worst_of(&format!("long_reduction ({isa:?})"), &outs);
        assert!(err <= TOL, "{isa:?}: max abs error {err}");
        #[cfg(feature = "parallel")]
        {
            // Split over threads: bit for bit the single-threaded outputs.
            let serial: Vec<Vec<f32>> = outs.iter().map(|o| o.1.to_vec()).collect();
            let mut ws =
                skipnet::Workspace::<{ LongReduction::ARENA_LEN }, LongReduction>::with_threads(2);
            ws.set_isa(isa).unwrap();
            let (cat, top, top3, v3, tall, dil, dws, up) = net.forward(&mut ws, &x, &v);
            let threaded: [&[f32]; 8] = [cat, top, top3, v3, tall, dil, dws, up];
            for (s, t) in serial.iter().zip(threaded) {
                assert!(
                    s.iter().zip(t).all(|(a, b)| a.to_bits() == b.to_bits()),
                    "2 threads differ"
                );
            }
        }
    }
}

/// Thousands of channels on a 3x3 map: reductions over 2,304, 4,100 (2 groups
/// of 2,050) and 6,404 channels, a 2,304-group depthwise conv, a dense layer
/// on 6,404 inputs.
#[test]
fn wide_channels_match_keras() {
    let net =
        WideChannels::from_safetensors(&fixture("wide_channels", "weights.safetensors")).unwrap();
    let io = fixture("wide_channels", "io.safetensors");
    let x = io_tensor::<144>(&io, "x", &[3, 3, 16]);
    let y0 = io_tensor::<72>(&io, "y0", &[3, 3, 8]);
    let y1 = io_tensor::<72>(&io, "y1", &[3, 3, 8]);
    let y2 = io_tensor::<10>(&io, "y2", &[10]);
    let mut ws = WideChannels::workspace();
    for isa in isas_under_test("wide_channels_match_keras") {
        ws.set_isa(isa).unwrap();
        let (r, g, fc) = net.forward(&mut ws, &x);
        let outs: [(&str, &[f32], &[f32]); 3] =
            [("r", r, &y0[..]), ("g", g, &y1[..]), ("fc", fc, &y2[..])];
        let err = worst_of(&format!("wide_channels ({isa:?})"), &outs);
        assert!(err <= TOL, "{isa:?}: max abs error {err}");
        #[cfg(feature = "parallel")]
        {
            let serial: Vec<Vec<f32>> = outs.iter().map(|o| o.1.to_vec()).collect();
            let mut ws =
                skipnet::Workspace::<{ WideChannels::ARENA_LEN }, WideChannels>::with_threads(2);
            ws.set_isa(isa).unwrap();
            let (r, g, fc) = net.forward(&mut ws, &x);
            for (s, t) in serial.iter().zip([&r[..], &g[..], &fc[..]]) {
                assert!(
                    s.iter().zip(t).all(|(a, b)| a.to_bits() == b.to_bits()),
                    "2 threads differ"
                );
            }
        }
    }
}

/// Batch norms after separable convs (Xception), folded into the pointwise
/// kernels at load time: the summary shows no batch norm layer left.
#[test]
fn xception_block_matches_keras() {
    let net =
        XceptionBlock::from_safetensors(&fixture("xception_block", "weights.safetensors")).unwrap();
    let io = fixture("xception_block", "io.safetensors");
    let x = io_tensor::<2048>(&io, "x", &[16, 16, 8]);
    let y = io_tensor::<1536>(&io, "y", &[8, 8, 24]);
    // Every batch norm is folded: no conv's own output is stored, each is
    // computed straight into its batch norm's (or a later) step.
    let summary = XceptionBlock::summary();
    for l in summary.lines().filter(|l| l.contains("conv2d)")) {
        assert!(l.contains("computed straight into"), "{l}\n{summary}");
    }
    // Keras's parameter count is every variable in the file (batch norms'
    // moving statistics included); the biases folding makes are extra.
    let file = fixture("xception_block", "weights.safetensors");
    let keras_params: usize = safetensors::SafeTensors::deserialize(&file)
        .unwrap()
        .tensors()
        .iter()
        .map(|(_, t)| t.shape().iter().product::<usize>())
        .sum();
    let total = summary
        .lines()
        .find_map(|l| l.strip_prefix("Total params: "))
        .and_then(|l| l.split(' ').next())
        .map(|n| n.replace(',', "").parse::<usize>().unwrap())
        .expect("a Total params line");
    assert_eq!(total, keras_params, "{summary}");
    assert!(summary.contains("Folded biases: "), "{summary}");
    let mut ws = XceptionBlock::workspace();
    for isa in isas_under_test("xception_block_matches_keras") {
        ws.set_isa(isa).unwrap();
        let err = max_abs_diff(net.forward(&mut ws, &x), &y[..]);
        println!("xception_block max abs error {err:e} ({isa:?})");
        assert!(err <= TOL, "{isa:?}: max abs error {err}");
    }
}

/// Zero paddings before convs are folded into the convs' windows: the
/// summary shows p1..p3 never stored, p4 (also read by the add) stored, and
/// the outputs match Keras on every ISA.
#[test]
fn folded_zero_paddings_match_keras() {
    let net = Padded::from_safetensors(&fixture("padded", "weights.safetensors")).unwrap();
    let io = fixture("padded", "io.safetensors");
    let x = io_tensor::<5184>(&io, "x", &[18, 18, 16]);
    let y = io_tensor::<1024>(&io, "y", &[8, 8, 16]);
    let summary = Padded::summary();
    let row = |name: &str| summary_row(summary, name);
    for p in ["p1", "p2", "p3"] {
        assert!(row(p).contains("never stored"), "{p}:\n{summary}");
    }
    assert!(!row("p4").contains("never stored"), "p4:\n{summary}");
    let mut ws = Padded::workspace();
    for isa in isas_under_test("folded_zero_paddings_match_keras") {
        ws.set_isa(isa).unwrap();
        let err = max_abs_diff(net.forward(&mut ws, &x), &y[..]);
        println!("padded max abs error {err:e} ({isa:?})");
        assert!(err <= TOL, "{isa:?}: max abs error {err}");
    }
}
