#!/usr/bin/env python3
"""Builds the fixture networks in Keras 3 and writes, for each, under
tests/fixtures/<name>/:

  weights.safetensors  every variable as f"{layer.name}.{var.name}" (DSL.md §4 names,
                       Keras layouts), float32
  io.safetensors       `x` a seeded input and `y` Keras's output (batch dim dropped);
                       several inputs/outputs are x0, x1, ... / y0, y1, ...

Layer names equal the binding paths of the `network!` declarations in
tests/keras_parity.rs, so nothing is renamed on export. Weights are drawn from a
seeded numpy generator (He-normal kernels, uniform(-0.1, 0.1) biases), so the
fixtures do not depend on TensorFlow's RNG.

Run (outside the repo's git tree for the virtualenv):
    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install tensorflow-cpu keras safetensors numpy
    /tmp/venv/bin/python tools/keras_fixtures.py            # all fixtures
    /tmp/venv/bin/python tools/keras_fixtures.py seed_unet  # one
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
from keras import layers
from safetensors.numpy import save_file

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures"


def conv(name, filters, k, **kw):
    return layers.Conv2D(filters, k, name=name, **kw)


# ------------------------------------------------------------------ networks
def seed_unet():
    """DSL.md §1's SkipUNet (the anchor seed_unet, last layer named `out`)."""
    x = keras.Input((32, 32, 3), name="x")
    c1 = conv("conv1", 32, 3, strides=2, padding="same", activation="relu")(x)
    c2 = conv("conv2", 64, 3, strides=2, padding="same", activation="relu")(c1)
    c3 = conv("conv3", 128, 3, strides=2, padding="same", activation="relu")(c2)
    c4 = conv("conv4", 128, 3, strides=2, padding="same", activation="relu")(c3)
    up1 = conv("up1", 128, 3, padding="same", activation="relu")(layers.UpSampling2D(2)(c4))
    m1 = layers.Concatenate(name="merge1")([c3, up1])
    up2 = conv("up2", 64, 3, padding="same", activation="relu")(layers.UpSampling2D(2)(m1))
    m2 = layers.Concatenate(name="merge2")([c2, up2])
    up3 = conv("up3", 32, 3, padding="same", activation="relu")(layers.UpSampling2D(2)(m2))
    m3 = layers.Concatenate(name="merge3")([c1, up3])
    up4 = conv("up4", 32, 3, padding="same")(layers.UpSampling2D(2)(m3))
    out = conv("out", 3, 3, padding="same")(up4)
    return keras.Model(x, out, name="seed_unet")


def apes_net():
    """DSL.md §1's ApesNet: `block apes` used twice (weights `b1.a.kernel`, ...)."""

    def apes(x, prefix, filters):
        a = conv(f"{prefix}.a", filters, 3, padding="same", activation="relu")(x)
        b = conv(f"{prefix}.b", filters, 1, padding="same")(x)
        return layers.Add(name=prefix)([a, b])

    x = keras.Input((64, 64, 16), name="x")
    b1 = apes(x, "b1", 16)
    p1 = layers.MaxPooling2D(2, name="p1")(b1)
    b2 = apes(p1, "b2", 32)
    out = conv("out", 4, 1)(b2)
    return keras.Model(x, out, name="apes_net")


def corner():
    """Odd sizes, stride-2 `same` with asymmetric padding, dilation, non-square
    kernels, `valid`, groups, no bias, max-pool `same` on odd maps, a concat with
    a repeated operand, n-ary add and standalone activations."""
    x = keras.Input((13, 12, 5), name="x")
    s2 = conv("s2", 8, 3, strides=2, padding="same", activation="tanh")(x)  # 7x6x8
    d = conv("d", 6, (3, 2), dilation_rate=(2, 1), padding="same", activation="sigmoid")(x)  # 13x12x6
    v = conv("v", 8, (5, 3), activation="relu")(d)  # 9x10x8
    g = conv("g", 8, 3, padding="same", groups=2, use_bias=False)(v)  # 9x10x8
    mp = layers.MaxPooling2D(3, strides=2, padding="same", name="mp")(g)  # 5x5x8
    mv = layers.MaxPooling2D((2, 3), strides=(1, 2), name="mv")(s2)  # 6x2x8
    up = conv("up", 8, 2)(layers.UpSampling2D((1, 3))(mv))  # 5x5x8
    c = layers.Concatenate(name="c")([mp, up, mp])  # 5x5x24
    h = conv("h", 8, 1)(c)  # 5x5x8
    a = layers.Add(name="a")([h, mp, up])
    cat = layers.Concatenate()(
        [layers.ReLU()(a), layers.Activation("tanh")(a), layers.Activation("sigmoid")(h)]
    )  # 5x5x24
    out = conv("out", 3, 3, strides=2, padding="same")(cat)  # 3x3x3
    return keras.Model(x, out, name="corner")


def apes_block_net():
    """The anchor `apes_block_net` of shared/anchors/models.py, layer for layer
    (parallel conv paths merged by Add, ReLU, MaxPool, 1x1 head, global average)."""
    x = keras.Input((64, 64, 16), name="x")
    h = conv("stem", 32, 3, padding="same", activation="relu")(x)
    for s, (f, ident) in enumerate(((32, False), (64, False), (64, True)), start=1):
        if ident:
            a = conv(f"b{s}_conv3a", f, 3, padding="same", activation="relu")(h)
            a = conv(f"b{s}_conv3b", f, 3, padding="same")(a)
            b = h
        else:
            a = conv(f"b{s}_conv3", f, 3, padding="same", activation="relu")(h)
            b = conv(f"b{s}_conv1", f, 1, padding="same")(h)
        h = layers.Add(name=f"b{s}_add")([a, b])
        h = layers.ReLU(name=f"b{s}_relu")(h)
        h = layers.MaxPooling2D(2, name=f"pool{s}")(h)
    h = conv("head", 10, 1, padding="same")(h)
    out = layers.GlobalAveragePooling2D(name="gap")(h)
    return keras.Model(x, out, name="apes_block_net")


def heads():
    """Classifier heads: global average and max pooling, `flatten`, `dense` on a
    vector and on a feature map (last axis), with and without bias, two outputs."""
    x = keras.Input((9, 7, 6), name="x")
    c = conv("c", 12, 3, strides=2, padding="same", activation="relu")(x)  # 5x4x12
    gap = layers.GlobalAveragePooling2D(name="gap")(c)  # 12
    gmp = layers.GlobalMaxPooling2D(name="gmp")(c)  # 12
    v = layers.Concatenate(name="v")([gap, gmp])  # 24
    h = layers.Dense(16, activation="relu", name="fc1")(v)
    logits = layers.Dense(5, name="logits")(h)
    m = layers.Dense(4, activation="tanh", use_bias=False, name="pix")(c)  # 5x4x4
    f = layers.Flatten(name="flat")(m)  # 80
    score = layers.Dense(3, activation="sigmoid", name="score")(f)
    return keras.Model(x, [logits, score], name="heads")


def zoo():
    """Keras 3 activations (relu6, elu, hard_sigmoid, hard_silu, swish, gelu, softmax as a
    layer argument and standalone), merges (subtract, multiply, average,
    maximum, minimum), average pooling with `same` padding cells, zero padding
    and cropping with asymmetric amounts, avg_pool2d `valid`."""
    x = keras.Input((12, 10, 4), name="x")
    a = conv("a", 8, 3, padding="same", activation="relu6")(x)
    b = conv("b", 8, 1, activation="elu")(x)
    s = layers.Subtract(name="s")([a, b])
    m = layers.Multiply(name="m")([a, b, s])
    av = layers.Average(name="av")([a, b])
    mx = layers.Maximum(name="mx")([a, b, m])
    mn = layers.Minimum(name="mn")([a, s])
    h = layers.Concatenate(name="h")(
        [
            layers.Activation("hard_sigmoid")(s),
            layers.Activation("swish")(m),
            layers.Activation("gelu")(av),
            mx,
            layers.Activation("hard_silu")(mn),
        ]
    )  # 12x10x40
    p = layers.AveragePooling2D(3, strides=2, padding="same", name="p")(h)  # 6x5x40
    z = layers.ZeroPadding2D(((1, 2), (0, 1)), name="z")(p)  # 9x6x40
    c = layers.Cropping2D(((2, 1), (1, 0)), name="c")(z)  # 6x5x40
    seg = conv("seg", 5, 3, padding="same", activation="softmax")(c)  # 6x5x5
    q = layers.AveragePooling2D((2, 3), strides=(2, 1), name="q")(c)  # 3x3x40
    f = layers.Dense(6, activation="gelu", name="f")(layers.GlobalAveragePooling2D()(q))
    cls = layers.Softmax(name="cls")(layers.Dense(4, name="logits")(f))
    return keras.Model(x, [seg, cls], name="zoo")


def decoder():
    """Two inputs, two outputs: depthwise convs (depth multiplier, stride 2,
    an upsample folded into one), transposed convs (`same` stride 2, `valid`
    with kernel > stride and kernel < stride) and a skip concat."""
    x = keras.Input((8, 8, 6), name="x")
    skip = keras.Input((16, 16, 4), name="skip")
    d = layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2, activation="relu", name="d")(
        x
    )  # 8x8x12
    t = layers.Conv2DTranspose(8, 3, strides=2, padding="same", activation="relu", name="t")(d)  # 16x16x8
    m = layers.Concatenate(name="m")([t, skip])  # 16x16x12
    e = layers.DepthwiseConv2D(3, strides=2, padding="same", name="e")(m)  # 8x8x12
    u = layers.DepthwiseConv2D((3, 2), depth_multiplier=1, use_bias=False, name="u")(
        layers.UpSampling2D(2)(e)
    )  # 14x15x12
    v = layers.Conv2DTranspose(5, 3, strides=2, name="v")(e)  # 17x17x5
    w = layers.Conv2DTranspose(3, (1, 2), strides=(2, 3), activation="tanh", name="w")(v)  # 34x51x3
    return keras.Model([x, skip], [u, w], name="decoder")


def resnet_bn():
    """The anchor `resnet_like_224` (ResNet-18 topology) with BatchNormalization
    after every conv, at 64x64x3 and 1/8 of the widths (8, 16, 32, 64) so the
    fixture stays small; plus leaky_relu and dropout before the classifier."""
    x = keras.Input((64, 64, 3), name="x")
    h = conv("conv1", 8, 7, strides=2, padding="same")(x)
    h = layers.ReLU()(layers.BatchNormalization(name="bn1")(h))  # 32
    h = layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(h)  # 16
    f_in = 8
    for s_, f in enumerate((8, 16, 32, 64), start=1):
        for blk in range(2):
            stride = 2 if (s_ > 1 and blk == 0) else 1
            p = f"s{s_}b{blk + 1}"
            y = conv(f"{p}.conv1", f, 3, strides=stride, padding="same")(h)
            y = layers.ReLU()(layers.BatchNormalization(name=f"{p}.bn1")(y))
            y = conv(f"{p}.conv2", f, 3, padding="same")(y)
            y = layers.BatchNormalization(name=f"{p}.bn2")(y)
            if stride != 1 or f_in != f:
                sc = conv(f"{p}.proj", f, 1, strides=stride, padding="same")(h)
                sc = layers.BatchNormalization(name=f"{p}.bnp")(sc)
            else:
                sc = h
            h = layers.ReLU()(layers.Add(name=f"{p}_add")([y, sc]))
            f_in = f
    g = layers.GlobalAveragePooling2D(name="gap")(h)
    g = layers.Dropout(0.25, name="drop")(layers.LeakyReLU(0.1, name="leaky")(g))
    out = layers.Dense(10, name="fc")(g)
    return keras.Model(x, out, name="resnet_bn")


def bilinear():
    """Bilinear upsampling (TF half-pixel centres) by (2, 2) and (3, 1), into a conv."""
    x = keras.Input((5, 4, 3), name="x")
    a = layers.UpSampling2D(2, interpolation="bilinear", name="a")(x)  # 10x8x3
    b = conv("b", 4, 3, padding="same", activation="relu")(a)
    out = layers.UpSampling2D((3, 1), interpolation="bilinear", name="out")(b)  # 30x8x4
    return keras.Model(x, out, name="bilinear")


def mobilenet():
    """MobileNet-style: conv + BN + relu6, depthwise + BN + relu6, pointwise +
    BN + relu6, separable convs (depth multiplier 2, stride 2), global average
    pooling, dense softmax."""
    x = keras.Input((32, 32, 3), name="x")
    h = conv("stem", 16, 3, strides=2, padding="same", use_bias=False)(x)  # 16x16x16
    h = layers.ReLU(6.0)(layers.BatchNormalization(name="stem_bn")(h))
    h = layers.DepthwiseConv2D(3, padding="same", use_bias=False, name="dw1")(h)
    h = layers.ReLU(6.0)(layers.BatchNormalization(name="dw1_bn")(h))
    h = conv("pw1", 24, 1, use_bias=False)(h)
    h = layers.ReLU(6.0)(layers.BatchNormalization(name="pw1_bn")(h))  # 16x16x24
    h = layers.SeparableConv2D(
        32, 3, strides=2, padding="same", depth_multiplier=2, activation="relu", name="sep1"
    )(h)  # 8x8x32
    h = layers.SeparableConv2D(48, (3, 1), padding="valid", activation="relu6", name="sep2")(h)  # 6x8x48
    g = layers.GlobalAveragePooling2D(name="gap")(h)
    out = layers.Dense(5, activation="softmax", name="fc")(g)
    return keras.Model(x, out, name="mobilenet")


def bn_standalone():
    """Batch norms that cannot be folded: on the input, after a relu conv, and
    on a conv that another layer also reads."""
    x = keras.Input((6, 5, 4), name="x")
    n0 = layers.BatchNormalization(name="n0")(x)
    c = conv("c", 8, 3, padding="same", activation="relu")(n0)
    n1 = layers.BatchNormalization(epsilon=0.01, name="n1")(c)
    d = conv("d", 8, 1)(n1)
    n2 = layers.BatchNormalization(name="n2")(d)
    out = layers.Add(name="out")([n2, d])
    return keras.Model(x, out, name="bn_standalone")


def unet_crop():
    """The original U-Net's skip: `valid` convs shrink the map, the skip is
    cropped to the decoder's size before the concat, bilinear upsampling, and
    zero padding restores the input size."""
    x = keras.Input((12, 12, 3), name="x")
    c1 = conv("c1", 8, 3, activation="relu")(x)  # 10x10x8
    c2 = conv("c2", 8, 3, activation="relu")(c1)  # 8x8x8
    p = layers.MaxPooling2D(2, name="p")(c2)  # 4x4x8
    b = conv("b", 16, 3, padding="same", activation="relu")(p)  # 4x4x16
    up = layers.UpSampling2D(2, interpolation="bilinear", name="up")(b)  # 8x8x16
    skip = layers.Cropping2D(1, name="skip")(c1)  # 8x8x8
    m = layers.Concatenate(name="m")([skip, up])  # 8x8x24
    d = conv("d", 4, 3, activation="relu")(m)  # 6x6x4
    out = layers.ZeroPadding2D(((3, 3), (2, 4)), name="out")(d)  # 12x12x4
    return keras.Model(x, out, name="unet_crop")


def long_reduction():
    """Long kernels on few channels, where one reduction unit of the conv
    driver (a tap's channels, or in the row-merged mode of layers with < 64
    input channels a whole kernel row, kw x cin floats) exceeds the 2,048-float
    pass `MAX_CIN`, or a kernel has more than 25 taps (several passes that
    accumulate into the output). Which mode a layer takes depends on the ISA's
    tile size (the merged window holds 12,288 floats), noted per layer:
    `spec`/`lr`/`lt`/`sl` are the reported bug's geometry ((1, 64) on 40
    channels `same`: one merged unit of 2,560 floats on AVX-512, 64 taps of 40
    on AVX2); `top`, `top3` and `v3` are merged with 2,520-2,560-float units on
    both AVX-512 and AVX2. Also: a (64, 1) kernel (strided, `same`), a long
    dilated kernel, depthwise (1, 31) and 7x7 kernels (31 and 49 taps), an
    odd-kernel transposed conv, residual adds fused into long-reduction convs
    (in place, accumulating over passes; and with a non-linear multi-pass conv,
    which may not accumulate) and a long-reduction conv writing its slot of a
    concat."""
    x = keras.Input((4, 64, 40), name="x")  # a spectrogram: 4 frames x 64 bins x 40 features
    v = keras.Input((64, 6, 16), name="v")  # a tall map for the (64, 1) kernel
    spec = conv("spec", 16, (1, 64), padding="same", activation="relu")(x)  # 4x64x16
    skip = conv("skip", 16, 1)(x)
    lr = conv("lr", 16, (1, 64), padding="same")(x)
    res = layers.ReLU()(layers.Add()([skip, lr]))  # in place in skip
    lt = conv("lt", 16, (1, 64), padding="same", activation="tanh")(x)
    res2 = layers.ReLU()(layers.Add()([spec, lt]))  # residual, not in place
    sl = conv("sl", 16, (1, 64), padding="same", activation="relu")(x)
    cat = layers.Concatenate(name="cat")([res, sl, res2])  # 4x64x48, sl in its slot
    half = layers.MaxPooling2D((2, 1), name="half")(x)  # 2x64x40
    top = conv("top", 16, (1, 64), strides=(1, 2), padding="same")(half)  # 2x32x16
    top3 = conv("top3", 8, (1, 63), strides=(1, 3), padding="same", activation="relu")(half)  # 2x22x8
    v3 = conv("v3", 12, (3, 60), activation="tanh")(x)  # 2x5x12
    tall = conv("tall", 8, (64, 1), strides=(2, 1), padding="same", activation="relu")(v)  # 32x6x8
    dil = conv("dil", 8, (3, 15), dilation_rate=(2, 4), padding="same")(x)  # 4x64x8
    dw1 = layers.DepthwiseConv2D((1, 31), padding="same", activation="relu", name="dw1")(x)  # 4x64x40
    dw7 = layers.DepthwiseConv2D(7, padding="same", depth_multiplier=2, name="dw7")(x)  # 4x64x80
    dws = layers.Concatenate(name="dws")([dw1, dw7])  # 4x64x120
    up = layers.Conv2DTranspose(8, (5, 7), strides=2, padding="same", name="up")(top)  # 4x64x8
    return keras.Model([x, v], [cat, top, top3, v3, tall, dil, dws, up], name="long_reduction")


def wide_channels():
    """Thousands of channels at a 3x3 map: a 3x3 `same` conv on 2,304 channels
    (9 taps x 2,304: two passes of 2,048 + 256 channels, padding taps reading
    the zero row), a 1x1 conv on a 6,404-channel concat (four passes) with a
    residual add fused in place and relu, a 2x2 `same` conv in 2 groups of
    2,050 channels, a depthwise conv over 2,304 channels (2,304 groups)
    writing its concat slot, convs producing 2,304 and 4,100 channels, and a
    dense layer on 6,404 inputs."""
    x = keras.Input((3, 3, 16), name="x")
    a = conv("a", 2304, 1, activation="relu")(x)  # 3x3x2304
    b = conv("b", 8, 3, padding="same")(a)  # 3x3x8
    dw = layers.DepthwiseConv2D(3, padding="same", activation="relu6", name="dw")(a)  # 3x3x2304
    c = conv("c", 4100, 1, activation="tanh")(x)  # 3x3x4100
    g = conv("g", 8, 2, padding="same", groups=2)(c)  # 3x3x8
    w = conv("w", 8, 1)(layers.Concatenate()([dw, c]))  # 3x3x8 over 6404
    r = layers.ReLU(name="r")(layers.Add()([b, w]))
    v = layers.Concatenate()([layers.GlobalAveragePooling2D()(c), layers.GlobalMaxPooling2D()(a)])  # 6404
    fc = layers.Dense(10, name="fc")(v)
    return keras.Model(x, [r, g, fc], name="wide_channels")


def xception_block():
    """Xception's entry-flow block: separable convs without bias, each followed
    by a batch norm (folded into the pointwise kernel), relu between, a strided
    max pool, and the 1x1 stride-2 conv + batch norm shortcut added to it; then
    a separable conv with a bias and a batch norm."""
    x = keras.Input((16, 16, 8), name="x")
    s1 = layers.SeparableConv2D(16, 3, padding="same", use_bias=False, name="s1")(x)
    h = layers.ReLU(name="r1")(layers.BatchNormalization(name="s1_bn")(s1))
    s2 = layers.SeparableConv2D(16, 3, padding="same", use_bias=False, name="s2")(h)
    h = layers.BatchNormalization(name="s2_bn")(s2)
    p = layers.MaxPooling2D(3, strides=2, padding="same", name="p")(h)  # 8x8x16
    sc = conv("sc", 16, 1, strides=2, padding="same", use_bias=False)(x)
    sc = layers.BatchNormalization(name="sc_bn")(sc)
    a = layers.Add(name="a")([p, sc])
    s3 = layers.SeparableConv2D(24, 3, padding="same", depth_multiplier=2, name="s3")(a)
    out = layers.BatchNormalization(epsilon=0.01, name="out")(s3)
    return keras.Model(x, out, name="xception_block")


def padded():
    """Zero paddings the macro folds into the conv after them (never stored):
    MobileNetV2's `((0, 1), (0, 1))` before a stride-2 valid depthwise conv,
    a symmetric one before a stride-1 3x3 valid conv, an asymmetric one
    before a strided `same` conv; and one also read by an add, which stays
    stored."""
    x = keras.Input((18, 18, 16), name="x")
    p1 = layers.ZeroPadding2D(((0, 1), (0, 1)), name="p1")(x)  # 19x19x16
    d1 = layers.DepthwiseConv2D(3, strides=2, padding="valid", name="d1")(p1)  # 9x9x16
    h = layers.ReLU(6.0, name="r1")(layers.BatchNormalization(name="d1_bn")(d1))
    p2 = layers.ZeroPadding2D(1, name="p2")(h)  # 11x11x16
    c2 = conv("c2", 24, 3, padding="valid", activation="relu")(p2)  # 9x9x24
    p3 = layers.ZeroPadding2D(((2, 1), (0, 3)), name="p3")(c2)  # 12x12x24
    c3 = conv("c3", 16, 3, strides=2, padding="same")(p3)  # 6x6x16
    p4 = layers.ZeroPadding2D(((1, 1), (2, 0)), name="p4")(c3)  # 8x8x16
    c4 = conv("c4", 16, 3, padding="same")(p4)  # 8x8x16
    out = layers.Add(name="out")([c4, p4])
    return keras.Model(x, out, name="padded")


def squeeze_excite():
    """Squeeze-and-excite both ways: MobileNetV3's (global average pool with
    keepdims, two 1x1 convs, hard_sigmoid, a broadcasting multiply of
    [H, W, C] by [1, 1, C]) and a dense gate on the pooled vector
    (multiply of [H, W, C] by [C]); then an add of [H, W, C], [1, 1, C] and
    [C] (broadcasting, so no conv epilogue)."""
    x = keras.Input((10, 12, 16), name="x")
    a = conv("a", 24, 3, padding="same", activation="relu")(x)
    s = layers.GlobalAveragePooling2D(keepdims=True, name="squeeze")(a)  # 1x1x24
    r = conv("reduce", 6, 1, activation="relu")(s)
    e = conv("expand", 24, 1, activation="hard_sigmoid")(r)
    m = layers.Multiply(name="excite")([a, e])  # 10x12x24
    g = layers.GlobalAveragePooling2D(name="g")(m)  # 24
    gate = layers.Dense(24, activation="sigmoid", name="gate")(g)
    m2 = layers.Multiply(name="scale")([m, gate])  # 10x12x24
    s2 = layers.Add(name="shifted")([m2, e, gate])  # 10x12x24
    out = conv("out", 8, 1)(s2)
    return keras.Model(x, out, name="squeeze_excite")


def preprocess():
    """EfficientNet's stem: Rescaling and Normalization at the input (both
    kept by Keras in the model), then a conv; a second Rescaling with an
    offset inside the network."""
    x = keras.Input((12, 10, 3), name="x")
    r = layers.Rescaling(2.5, offset=0.25, name="scale")(x)
    n = layers.Normalization(axis=-1, name="norm")(r)
    c = conv("c", 8, 3, padding="same", activation="relu")(n)
    r2 = layers.Rescaling(0.5, offset=-1.0, name="shift")(c)
    out = conv("out", 4, 1)(r2)
    return keras.Model(x, out, name="preprocess")


def convnext_block():
    """A ConvNeXt block: a 7x7 depthwise conv, LayerNormalization (epsilon
    1e-6, ConvNeXt's), a pointwise MLP with GELU as Dense layers on the map,
    ConvNeXt's LayerScale, the residual add; then a LayerNormalization
    without center or scale."""
    from keras.src.applications.convnext import LayerScale

    x = keras.Input((8, 8, 16), name="x")
    d = layers.DepthwiseConv2D(7, padding="same", name="dw")(x)
    n = layers.LayerNormalization(epsilon=1e-6, name="ln")(d)
    p1 = layers.Dense(64, activation="gelu", name="pw1")(n)
    p2 = layers.Dense(16, name="pw2")(p1)
    ls = LayerScale(1e-6, 16, name="ls")(p2)
    a = layers.Add(name="res")([x, ls])
    n2 = layers.LayerNormalization(center=False, scale=False, name="ln2")(a)
    out = conv("out", 4, 1)(n2)
    return keras.Model(x, out, name="convnext_block")


def efficient_se():
    """EfficientNet's squeeze-and-excite: the pooled vector reshaped to
    [1, 1, C] (Reshape), two 1x1 convs (swish, sigmoid), a broadcasting
    multiply; and a reshape with an inferred size."""
    x = keras.Input((8, 8, 16), name="x")
    a = conv("a", 16, 3, padding="same", activation="swish")(x)
    g = layers.GlobalAveragePooling2D(name="g")(a)  # 16
    r = layers.Reshape((1, 1, 16), name="r")(g)
    s1 = conv("s1", 4, 1, activation="swish")(r)
    s2 = conv("s2", 16, 1, activation="sigmoid")(s1)
    m = layers.Multiply(name="m")([a, s2])  # 8x8x16
    h = layers.Reshape((4, -1, 16), name="h")(m)  # 4x16x16
    out = conv("out", 8, 1)(h)
    return keras.Model(x, out, name="efficient_se")


def se_project():
    """MobileNetV3's inverted residual with squeeze-and-excite: the gated
    product (gate first) read only by the 1x1 projection, whose batch norm
    folds and whose residual add fuses; then a second product on a 3x3 map
    by a dense gate, into a 1x1 conv whose kernel is larger than that map
    (so that product stays a pass of its own)."""
    x = keras.Input((12, 10, 16), name="x")
    e = conv("expand", 48, 1, activation="relu")(x)
    d = layers.DepthwiseConv2D(3, padding="same", activation="relu", name="dw")(e)
    s = layers.GlobalAveragePooling2D(keepdims=True, name="squeeze")(d)  # 1x1x48
    r = conv("reduce", 12, 1, activation="relu")(s)
    g = conv("gate", 48, 1, activation="hard_sigmoid")(r)
    m = layers.Multiply(name="excite")([g, d])  # 12x10x48
    p = conv("project", 16, 1, use_bias=False)(m)
    b = layers.BatchNormalization(name="bn")(p)
    res = layers.Add(name="res")([x, b])
    t = conv("down", 24, 3, strides=4, padding="same", activation="relu")(res)  # 3x3x24
    gate2 = layers.Dense(24, activation="sigmoid", name="gate2")(layers.GlobalAveragePooling2D(name="g2")(t))
    m2 = layers.Multiply(name="excite2")([t, gate2])  # 3x3x24
    out = conv("out", 40, 1)(m2)
    return keras.Model(x, out, name="se_project")


def grouped_depthwise():
    """Conv2D layers with one input channel per group, as ConvNeXt writes its
    7x7 depthwise convs (the macro runs them on the depthwise kernel): a 7x7
    `same` one with a swish Activation layer after it, a strided `valid` one
    with two filters per group, and one whose output the residual add takes;
    between them a grouped conv of two channels per group, which stays a
    grouped GEMM, with a gelu Activation layer (both activations computed in
    the convs' epilogues)."""
    x = keras.Input((10, 9, 12), name="x")
    a = conv("a", 12, 7, padding="same", groups=12)(x)
    a = layers.Activation("swish", name="a_swish")(a)
    g = conv("g", 12, 3, padding="same", groups=6)(a)
    g = layers.Activation("gelu", name="g_gelu")(g)
    b = conv("b", 24, 3, strides=2, groups=12)(g)  # 4x4x24
    c = conv("c", 24, 3, padding="same", groups=24)(b)
    out = layers.Add(name="out")([b, c])
    return keras.Model(x, out, name="grouped_depthwise")


NETS = {
    "seed_unet": seed_unet,
    "apes_net": apes_net,
    "corner": corner,
    "apes_block_net": apes_block_net,
    "heads": heads,
    "zoo": zoo,
    "decoder": decoder,
    "resnet_bn": resnet_bn,
    "bilinear": bilinear,
    "mobilenet": mobilenet,
    "bn_standalone": bn_standalone,
    "unet_crop": unet_crop,
    "long_reduction": long_reduction,
    "wide_channels": wide_channels,
    "xception_block": xception_block,
    "padded": padded,
    "squeeze_excite": squeeze_excite,
    "preprocess": preprocess,
    "convnext_block": convnext_block,
    "efficient_se": efficient_se,
    "se_project": se_project,
    "grouped_depthwise": grouped_depthwise,
}

# Variables Keras keeps for bookkeeping, not for inference (Normalization's
# `adapt` sample count): not exported, not part of the DSL's weights.
BOOKKEEPING = {"count"}


# ------------------------------------------------------------------ export
def init_weights(model: keras.Model, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        for w in layer.weights:
            shape = tuple(w.shape)
            if w.name in ("kernel", "depthwise_kernel", "pointwise_kernel"):
                fan_in = int(np.prod(shape[:-1]))
                val = rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)
            elif w.name == "bias":
                val = rng.uniform(-0.1, 0.1, size=shape)
            elif w.name in ("gamma", "moving_variance") or _is_layer_scale(layer, w):
                val = rng.uniform(0.5, 1.5, size=shape)
            elif w.name == "beta":
                val = rng.uniform(-0.1, 0.1, size=shape)
            elif w.name == "moving_mean":
                val = rng.standard_normal(shape) * 0.1
            elif w.name == "mean":
                val = rng.standard_normal(shape) * 0.5
            elif w.name == "variance":
                val = rng.uniform(0.2, 2.0, size=shape)
            elif w.name in BOOKKEEPING:
                continue
            else:
                raise ValueError(f"unexpected variable {layer.name}.{w.name}")
            w.assign(val.astype(np.float32))
        if isinstance(layer, layers.Normalization):
            # Its call reads copies made from the variables (finalize_state).
            layer.finalize_state()


def _is_layer_scale(layer, w) -> bool:
    """ConvNeXt's LayerScale keeps its `gamma` as an unnamed variable
    (`variable`, or `variable_<n>` when other unnamed variables were made
    earlier in the process); skipnet's `layer_scale` calls it `gamma`."""
    return type(layer).__name__ == "LayerScale" and (w.name == "variable" or w.name.startswith("variable_"))


def export(name: str, seed: int = 0) -> None:
    keras.utils.set_random_seed(seed)
    model = NETS[name]()
    init_weights(model, seed)
    weights = {}
    for layer in model.layers:
        for w in layer.weights:
            if w.name in BOOKKEEPING:
                continue
            key = f"{layer.name}.{'gamma' if _is_layer_scale(layer, w) else w.name}"
            assert key not in weights, key
            weights[key] = np.ascontiguousarray(w.numpy().astype(np.float32))

    rng = np.random.default_rng(1000 + seed)
    xs = [rng.uniform(-1.0, 1.0, size=(1,) + tuple(i.shape[1:])).astype(np.float32) for i in model.inputs]
    ys = model(xs if len(xs) > 1 else xs[0], training=False)
    ys = ys if isinstance(ys, (list, tuple)) else [ys]
    io = {}
    for k, v in enumerate(xs):
        io["x" if len(xs) == 1 else f"x{k}"] = np.ascontiguousarray(v[0])
    for k, v in enumerate(ys):
        io["y" if len(ys) == 1 else f"y{k}"] = np.ascontiguousarray(np.asarray(v)[0].astype(np.float32))

    gap = float64_gap(name, model, xs, ys)

    d = OUT / name
    d.mkdir(parents=True, exist_ok=True)
    save_file(weights, str(d / "weights.safetensors"))
    save_file(io, str(d / "io.safetensors"))
    n = sum(v.size for v in weights.values())
    print(
        f"{name}: {len(weights)} tensors, {n} params, "
        f"x {[v.shape for v in xs]}, y {[np.asarray(v).shape for v in ys]} -> {d.relative_to(ROOT)}; "
        f"max |y - y(float64 Keras)| {gap:.3e}"
    )


def float64_gap(name: str, model: keras.Model, xs, ys) -> float:
    """How far Keras's float32 outputs `ys` are from the same network run in
    float64 (same weights, same input): the float32 rounding floor a 1e-4
    comparison with skipnet has to sit above. Diagnostic only (printed)."""
    floatx, policy = keras.config.floatx(), keras.config.dtype_policy()
    keras.config.set_floatx("float64")
    keras.config.set_dtype_policy("float64")
    try:
        m64 = NETS[name]()
    finally:
        keras.config.set_floatx(floatx)
        keras.config.set_dtype_policy(policy)
    assert all(w.dtype == "float64" for w in m64.weights if w.name not in BOOKKEEPING), "not a float64 twin"
    for l32, l64 in zip(model.layers, m64.layers, strict=True):
        for w32, w64 in zip(l32.weights, l64.weights, strict=True):
            if w32.name not in BOOKKEEPING:
                w64.assign(w32.numpy().astype(np.float64))
        if isinstance(l64, layers.Normalization):
            l64.finalize_state()
    xs64 = [v.astype(np.float64) for v in xs]
    y64 = m64(xs64 if len(xs64) > 1 else xs64[0], training=False)
    y64 = y64 if isinstance(y64, (list, tuple)) else [y64]
    return max(
        float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b)))) for a, b in zip(ys, y64, strict=True)
    )


if __name__ == "__main__":
    for n in sys.argv[1:] or list(NETS):
        export(n)
