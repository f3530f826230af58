//! Shared by the integration tests: the fixture networks of
//! `tools/keras_fixtures.py` (layer names = binding paths) and fixture loading.
#![allow(dead_code)]

use skipnet::network;

mod anchors;
pub(crate) use anchors::{apes_block_net, seed_unet};

seed_unet! {
    /// DSL.md §1's encoder-decoder with concatenate skips.
    SkipUNet([32, 32, 3]) -> out
}

seed_unet! {
    #[quantized]
    /// The same network in int8, as TFLite's converter quantized it
    /// (fixture `int8/seed_unet`, tools/tflite_int8_fixtures.py).
    SeedUNetInt8([32, 32, 3]) -> out
}

network! {
    /// Two parallel paths merged by element-wise addition.
    block apes(x, filters) {
        a = conv2d(x, filters, 3, padding = same, activation = relu);
        b = conv2d(x, filters, 1, padding = same);
        return add(a, b);
    }
    pub ApesNet(x: [64, 64, 16]) -> out {
        b1  = apes(x, 16);
        p1  = max_pool2d(b1, 2);
        b2  = apes(p1, 32);
        out = conv2d(b2, 4, 1);
    }
}

network! {
    /// Corner cases: odd sizes, asymmetric `same` padding, dilation, non-square
    /// kernels, `valid`, groups, no bias, repeated concat operands, n-ary add.
    pub Corner(x: [13, 12, 5]) -> out {
        s2  = conv2d(x, 8, 3, strides = 2, padding = same, activation = tanh);
        d   = conv2d(x, 6, (3, 2), dilation_rate = (2, 1), padding = same, activation = sigmoid);
        v: [9, 10, 8] = conv2d(d, 8, (5, 3), activation = relu);
        g   = conv2d(v, 8, 3, padding = same, groups = 2, use_bias = false);
        mp  = max_pool2d(g, 3, strides = 2, padding = same);
        mv  = max_pool2d(s2, (2, 3), strides = (1, 2));
        up  = conv2d(upsample2d(mv, (1, 3)), 8, 2);
        c   = concat(mp, up, mp);
        h   = conv2d(c, 8, 1);
        a   = add(h, mp, up);
        out: [3, 3, 3] = conv2d(concat(relu(a), tanh(a), sigmoid(h)), 3, 3, strides = 2, padding = same);
    }
}

apes_block_net! {
    /// The anchor `apes_block_net` (shared/anchors/models.py), layer names kept.
    ApesBlockNet
}

network! {
    /// Classifier heads: global pooling, flatten, dense on vectors and maps.
    pub Heads(x: [9, 7, 6]) -> (logits, score) {
        c      = conv2d(x, 12, 3, strides = 2, padding = same, activation = relu);
        v      = concat(global_avg_pool2d(c), global_max_pool2d(c));
        fc1    = dense(v, 16, activation = relu);
        logits = dense(fc1, 5);
        pix    = dense(c, 4, activation = tanh, use_bias = false);
        score  = dense(flatten(pix), 3, activation = sigmoid);
    }
}

network! {
    /// Activations, merges, average pooling, padding and cropping (Keras 3).
    pub Zoo(x: [12, 10, 4]) -> (seg, cls) {
        a   = conv2d(x, 8, 3, padding = same, activation = relu6);
        b   = conv2d(x, 8, 1, activation = elu);
        s   = subtract(a, b);
        m   = multiply(a, b, s);
        av  = average(a, b);
        mx  = maximum(a, b, m);
        mn  = minimum(a, s);
        h   = concat(hard_sigmoid(s), swish(m), gelu(av), mx, hard_silu(mn));
        p   = avg_pool2d(h, 3, strides = 2, padding = same);
        z   = zero_padding2d(p, ((1, 2), (0, 1)));
        c   = cropping2d(z, ((2, 1), (1, 0)));
        seg = conv2d(c, 5, 3, padding = same, activation = softmax);
        q   = avg_pool2d(c, (2, 3), strides = (2, 1));
        f   = dense(global_avg_pool2d(q), 6, activation = gelu);
        logits = dense(f, 4);
        cls = softmax(logits);
    }
}

network! {
    /// Squeeze-and-excite: a pooled `[1, 1, C]` (keepdims) through 1x1 convs
    /// and a dense gate on `[C]`, each multiplied into the map by broadcasting,
    /// then both added to it (a broadcasting `add`, run as a merge).
    pub SqueezeExcite(x: [10, 12, 16]) -> out {
        a       = conv2d(x, 24, 3, padding = same, activation = relu);
        squeeze = global_avg_pool2d(a, keepdims = true);
        reduce  = conv2d(squeeze, 6, 1, activation = relu);
        expand  = conv2d(reduce, 24, 1, activation = hard_sigmoid);
        excite  = multiply(a, expand);
        gate    = dense(global_avg_pool2d(excite), 24, activation = sigmoid);
        scale   = multiply(excite, gate);
        shifted = add(scale, expand, gate);
        out     = conv2d(shifted, 8, 1);
    }
}

network! {
    /// EfficientNet's stem: Keras's `Rescaling` and `Normalization` kept at
    /// the input, and a rescaling with an offset inside.
    pub Preprocess(x: [12, 10, 3]) -> out {
        scale = rescaling(x, 2.5, offset = 0.25);
        norm  = normalization(scale);
        c     = conv2d(norm, 8, 3, padding = same, activation = relu);
        shift = rescaling(c, 0.5, offset = -1.0);
        out   = conv2d(shift, 4, 1);
    }
}

/// A ConvNeXt block: 7x7 depthwise, layer norm, a GELU MLP as dense layers
/// on the map, ConvNeXt's layer scale, the residual add; a layer norm
/// without center or scale. A macro so that tests/baked.rs bakes the same
/// network.
macro_rules! convnext_block {
    ($(#[$($attr:tt)*])* $name:ident) => {
        ::skipnet::network! {
            $(#[$($attr)*])*
            pub $name(x: [8, 8, 16]) -> out {
                dw  = depthwise_conv2d(x, 7, padding = same);
                ln  = layer_norm(dw, epsilon = 0.000001);
                pw1 = dense(ln, 64, activation = gelu);
                pw2 = dense(pw1, 16);
                ls  = layer_scale(pw2);
                res = add(x, ls);
                ln2 = layer_norm(res, center = false, scale = false);
                out = conv2d(ln2, 4, 1);
            }
        }
    };
}

// For tests/baked.rs; the other test crates only use `ConvNextBlock`.
#[allow(unused_imports)]
pub(crate) use convnext_block;

convnext_block! {
    ConvNextBlock
}

network! {
    /// EfficientNet's squeeze-and-excite: the pooled vector reshaped to
    /// `[1, 1, C]`, and a reshape with an inferred size.
    pub EfficientSe(x: [8, 8, 16]) -> out {
        a   = conv2d(x, 16, 3, padding = same, activation = swish);
        g   = global_avg_pool2d(a);
        r   = reshape(g, (1, 1, 16));
        s1  = conv2d(r, 4, 1, activation = swish);
        s2  = conv2d(s1, 16, 1, activation = sigmoid);
        m   = multiply(a, s2);
        h   = reshape(m, (4, -1, 16));
        out = conv2d(h, 8, 1);
    }
}

network! {
    /// MobileNetV3's inverted residual with squeeze-and-excite: the gated
    /// product read only by the 1x1 projection, which scales its kernel by
    /// the gate instead (its batch norm folded, the residual add fused);
    /// then a gated product on a 3x3 map, whose 1x1 conv's kernel (24 x 48
    /// floats packed) is larger than the map: that product is a pass.
    pub SeProject(x: [12, 10, 16]) -> out {
        expand  = conv2d(x, 48, 1, activation = relu);
        dw      = depthwise_conv2d(expand, 3, padding = same, activation = relu);
        squeeze = global_avg_pool2d(dw, keepdims = true);
        reduce  = conv2d(squeeze, 12, 1, activation = relu);
        gate    = conv2d(reduce, 48, 1, activation = hard_sigmoid);
        excite  = multiply(gate, dw);
        project = conv2d(excite, 16, 1, use_bias = false);
        bn      = batch_norm(project);
        res     = add(x, bn);
        down    = conv2d(res, 24, 3, strides = 4, padding = same, activation = relu);
        gate2   = dense(global_avg_pool2d(down), 24, activation = sigmoid);
        excite2 = multiply(down, gate2);
        out     = conv2d(excite2, 40, 1);
    }
}

network! {
    /// `conv2d`s with one input channel per group (ConvNeXt's 7x7
    /// depthwise convs are written so), run on the depthwise kernel: `same`
    /// with a swish after it, strided `valid` with two filters per group, and
    /// one whose residual add is fused; `g` (two channels per group) stays
    /// grouped, with a gelu after it. Both activations run in the convs'
    /// epilogues (fuse rule 6).
    pub GroupedDepthwise(x: [10, 9, 12]) -> out {
        a       = conv2d(x, 12, 7, padding = same, groups = 12);
        a_swish = swish(a);
        g       = conv2d(a_swish, 12, 3, padding = same, groups = 6);
        g_gelu  = gelu(g);
        b       = conv2d(g_gelu, 24, 3, strides = 2, groups = 12);
        c   = conv2d(b, 24, 3, padding = same, groups = 24);
        out = add(b, c);
    }
}

network! {
    /// Two inputs, two outputs: depthwise and transposed convolutions.
    pub Decoder(x: [8, 8, 6], skip: [16, 16, 4]) -> (u, w) {
        d = depthwise_conv2d(x, 3, padding = same, depth_multiplier = 2, activation = relu);
        t = conv2d_transpose(d, 8, 3, strides = 2, padding = same, activation = relu);
        m = concat(t, skip);
        e = depthwise_conv2d(m, 3, strides = 2, padding = same);
        u: [14, 15, 12] = depthwise_conv2d(upsample2d(e, 2), (3, 2), use_bias = false);
        v: [17, 17, 5] = conv2d_transpose(e, 5, 3, strides = 2);
        w: [34, 51, 3] = conv2d_transpose(v, 3, (1, 2), strides = (2, 3), activation = tanh);
    }
}

network! {
    /// ResNet-18's basic block with a projection shortcut.
    block down(x, filters) {
        conv1 = conv2d(x, filters, 3, strides = 2, padding = same);
        bn1 = batch_norm(conv1);
        conv2 = conv2d(relu(bn1), filters, 3, padding = same);
        bn2 = batch_norm(conv2);
        proj = conv2d(x, filters, 1, strides = 2, padding = same);
        bnp = batch_norm(proj);
        return relu(add(bn2, bnp));
    }
    /// ResNet-18's basic block with an identity shortcut.
    block same(x, filters) {
        conv1 = conv2d(x, filters, 3, padding = same);
        bn1 = batch_norm(conv1);
        conv2 = conv2d(relu(bn1), filters, 3, padding = same);
        bn2 = batch_norm(conv2);
        return relu(add(bn2, x));
    }
    /// The anchor resnet_like_224 with batch norm, 64x64 and 1/8 widths.
    pub ResNetBn(x: [64, 64, 3]) -> fc {
        conv1 = conv2d(x, 8, 7, strides = 2, padding = same);
        bn1 = batch_norm(conv1);
        pool1 = max_pool2d(relu(bn1), 3, strides = 2, padding = same);
        s1b1 = same(pool1, 8);
        s1b2 = same(s1b1, 8);
        s2b1 = down(s1b2, 16);
        s2b2 = same(s2b1, 16);
        s3b1 = down(s2b2, 32);
        s3b2 = same(s3b1, 32);
        s4b1 = down(s3b2, 64);
        s4b2 = same(s4b1, 64);
        leaky = leaky_relu(global_avg_pool2d(s4b2), alpha = 0.1);
        drop = dropout(leaky, 0.25);
        fc = dense(drop, 10);
    }
}

network! {
    /// Bilinear upsampling (TensorFlow's half-pixel centres).
    pub Bilinear(x: [5, 4, 3]) -> out {
        a   = upsample2d(x, 2, interpolation = bilinear);
        b   = conv2d(a, 4, 3, padding = same, activation = relu);
        out = upsample2d(b, (3, 1), interpolation = bilinear);
    }
}

network! {
    /// MobileNet-style: batch norm, relu6, depthwise and separable convs.
    pub MobileNet(x: [32, 32, 3]) -> fc {
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

network! {
    /// Batch norms that cannot be folded into a conv.
    pub BnStandalone(x: [6, 5, 4]) -> out {
        n0  = batch_norm(x);
        c   = conv2d(n0, 8, 3, padding = same, activation = relu);
        n1  = batch_norm(c, epsilon = 0.01);
        d   = conv2d(n1, 8, 1);
        n2  = batch_norm(d);
        out = add(n2, d);
    }
}

network! {
    /// The original U-Net's cropped skip, bilinear upsampling, zero padding.
    pub UnetCrop(x: [12, 12, 3]) -> out {
        c1   = conv2d(x, 8, 3, activation = relu);
        c2   = conv2d(c1, 8, 3, activation = relu);
        p    = max_pool2d(c2, 2);
        b    = conv2d(p, 16, 3, padding = same, activation = relu);
        up   = upsample2d(b, 2, interpolation = bilinear);
        skip = cropping2d(c1, 1);
        m    = concat(skip, up);
        d    = conv2d(m, 4, 3, activation = relu);
        out: [12, 12, 4] = zero_padding2d(d, ((3, 3), (2, 4)));
    }
}

network! {
    /// Long kernels on few channels: reduction units over the conv driver's
    /// 2,048-float pass (`spec`, `lr`, `lt`, `sl`: the (1, 64) kernel on 40
    /// channels of the fixed bug; `top`, `top3`, `v3`: row-merged on AVX2 too),
    /// kernels over 25 taps, residual adds and a concat slot fed by them.
    pub LongReduction(x: [4, 64, 40], v: [64, 6, 16]) -> (cat, top, top3, v3, tall, dil, dws, up) {
        spec = conv2d(x, 16, (1, 64), padding = same, activation = relu);
        skip = conv2d(x, 16, 1);
        lr   = conv2d(x, 16, (1, 64), padding = same);
        res  = relu(add(skip, lr));
        lt   = conv2d(x, 16, (1, 64), padding = same, activation = tanh);
        res2 = relu(add(spec, lt));
        sl   = conv2d(x, 16, (1, 64), padding = same, activation = relu);
        cat: [4, 64, 48] = concat(res, sl, res2);
        half = max_pool2d(x, (2, 1));
        top: [2, 32, 16] = conv2d(half, 16, (1, 64), strides = (1, 2), padding = same);
        top3: [2, 22, 8] = conv2d(half, 8, (1, 63), strides = (1, 3), padding = same,
                                  activation = relu);
        v3: [2, 5, 12] = conv2d(x, 12, (3, 60), activation = tanh);
        tall: [32, 6, 8] = conv2d(v, 8, (64, 1), strides = (2, 1), padding = same,
                                  activation = relu);
        dil  = conv2d(x, 8, (3, 15), dilation_rate = (2, 4), padding = same);
        dw1  = depthwise_conv2d(x, (1, 31), padding = same, activation = relu);
        dw7  = depthwise_conv2d(x, 7, padding = same, depth_multiplier = 2);
        dws: [4, 64, 120] = concat(dw1, dw7);
        up: [4, 64, 8] = conv2d_transpose(top, 8, (5, 7), strides = 2, padding = same);
    }
}

network! {
    /// Thousands of channels on a 3x3 map: reductions of 9 x 2,304, 6,404 and
    /// 2 groups of 4 x 2,050 floats, a 2,304-group depthwise conv, a dense
    /// layer on 6,404 inputs.
    pub WideChannels(x: [3, 3, 16]) -> (r, g, fc) {
        a  = conv2d(x, 2304, 1, activation = relu);
        b  = conv2d(a, 8, 3, padding = same);
        dw = depthwise_conv2d(a, 3, padding = same, activation = relu6);
        c  = conv2d(x, 4100, 1, activation = tanh);
        g  = conv2d(c, 8, 2, padding = same, groups = 2);
        w  = conv2d(concat(dw, c), 8, 1);
        r  = relu(add(b, w));
        fc = dense(concat(global_avg_pool2d(c), global_max_pool2d(a)), 10);
    }
}

network! {
    /// Xception's entry-flow block: every batch norm folded (into separable
    /// convs' pointwise kernels, with and without a bias, and into the strided
    /// 1x1 shortcut conv).
    pub XceptionBlock(x: [16, 16, 8]) -> out {
        s1    = separable_conv2d(x, 16, 3, padding = same, use_bias = false);
        s1_bn = batch_norm(s1);
        s2    = separable_conv2d(relu(s1_bn), 16, 3, padding = same, use_bias = false);
        s2_bn = batch_norm(s2);
        p     = max_pool2d(s2_bn, 3, strides = 2, padding = same);
        sc    = conv2d(x, 16, 1, strides = 2, padding = same, use_bias = false);
        sc_bn = batch_norm(sc);
        a     = add(p, sc_bn);
        s3    = separable_conv2d(a, 24, 3, padding = same, depth_multiplier = 2);
        out   = batch_norm(s3, epsilon = 0.01);
    }
}

network! {
    /// Zero paddings folded into the convs after them (p1..p3, never
    /// stored) and one also read by an add (p4, stored).
    pub Padded(x: [18, 18, 16]) -> out {
        p1    = zero_padding2d(x, ((0, 1), (0, 1)));
        d1    = depthwise_conv2d(p1, 3, strides = 2);
        d1_bn = batch_norm(d1);
        p2    = zero_padding2d(relu6(d1_bn), 1);
        c2    = conv2d(p2, 24, 3, activation = relu);
        p3    = zero_padding2d(c2, ((2, 1), (0, 3)));
        c3    = conv2d(p3, 16, 3, strides = 2, padding = same);
        p4    = zero_padding2d(c3, ((1, 1), (2, 0)));
        c4    = conv2d(p4, 16, 3, padding = same);
        out   = add(c4, p4);
    }
}

pub fn fixture(name: &str, file: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/{name}/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("cannot read {path}: {e} (run tools/keras_fixtures.py)"))
}

/// Reads tensor `name` of `shape` (f32) from a fixture's io.safetensors.
pub fn io_tensor<const N: usize>(bytes: &[u8], name: &str, shape: &[usize]) -> Box<[f32; N]> {
    let mut f = skipnet_runtime_io::parse(bytes);
    let p = f.take::<N>(name, shape).unwrap_or_else(|e| panic!("{e}"));
    Box::new(*p)
}

/// The largest `|a[i] - b[i]|`; infinity when any difference is NaN or
/// infinite (so an all-NaN output fails every tolerance), and the lengths
/// must agree.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    skipnet::compare::max_abs_diff(a, b)
}

mod skipnet_runtime_io {
    pub fn parse(bytes: &[u8]) -> skipnet::__private::WeightFile<'_> {
        skipnet::__private::WeightFile::parse(bytes).expect("valid io fixture")
    }
}
