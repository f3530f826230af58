"""int8 conv fixtures from TFLite's converter and its reference kernels.

Each case is a one-layer Keras model (a Conv2D: kernel size, strides,
padding, activation), seeded, converted by TFLite's converter to full int8
(per-channel symmetric int8 weights, per-tensor asymmetric int8 activations,
int32 bias) with a representative dataset, and run by the TFLite interpreter
with its reference kernels (`BUILTIN_REF`: the arithmetic skipnet must match
bit for bit). The fixture holds what the converter chose and what the
interpreter computed, under these names:

    x            int8  [h, w, cin]          the quantized input
    kernel       int8  [kh, kw, cin, cout]  Keras layout (TFLite stores OHWI)
    bias         int32 [cout]
    kernel_scale f32   [cout]               per output channel (zero point 0)
    io_quant     f32   [4]                  input scale, input zero point,
                                            output scale, output zero point
    y            int8  [oh, ow, cout]       the interpreter's output

and the geometry in the safetensors metadata (`strides`, `padding`,
`activation`). Written to tests/fixtures/int8/<case>.safetensors; the tests
in skipnet-runtime/tests/int8_tflite.rs read them. Also the whole seed U-Net
in int8 (`seed_unet_int8`, tests/fixtures/int8/seed_unet/).

    python tools/tflite_int8_fixtures.py   # in a venv with tensorflow-cpu, ai-edge-litert, safetensors
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
from safetensors.numpy import save_file
from skipnet_common import ROOT, log

OUT = ROOT / "tests" / "fixtures" / "int8"

# name: (input hwc, filters, kernel, strides, padding, activation)
CASES = {
    "conv3x3_same_relu": ((9, 11, 5), 7, 3, 1, "same", "relu"),
    "conv3x3_s2_valid": ((12, 10, 8), 12, 3, 2, "valid", None),
    "conv1x1_relu6": ((6, 7, 19), 33, 1, 1, "valid", "relu6"),
    "conv5x3_s2_same": ((13, 9, 3), 16, (5, 3), 2, "same", "relu"),
    "conv3x3_deep": ((8, 8, 64), 24, 3, 1, "same", None),
}


def build(shape, filters, kernel, strides, padding, activation, seed):
    import keras

    keras.utils.set_random_seed(seed)
    x = keras.Input(shape)
    y = keras.layers.Conv2D(
        filters,
        kernel,
        strides=strides,
        padding=padding,
        activation=activation,
        bias_initializer=keras.initializers.RandomUniform(-0.3, 0.3, seed=seed),
    )(x)
    return keras.Model(x, y)


def convert(model, shape, seed):
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    # An input range off centre per case, so the input zero point is not 0.
    lo = -1.0 + 0.45 * (seed % 4)
    calib = [rng.uniform(lo, lo + 2.0, (1, *shape)).astype(np.float32) for _ in range(64)]
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([c] for c in calib)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    return conv.convert()


def run_reference(flat, x_q):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(
        model_content=flat,
        experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
    )
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x_q[None])
    it.invoke()
    y = it.get_tensor(it.get_output_details()[0]["index"])[0]
    return it, y


def conv_tensors(it):
    """The CONV_2D op's int8 filter and int32 bias tensors (its inputs 1, 2)."""
    ops = [op for op in it._get_ops_details() if op["op_name"] == "CONV_2D"]
    assert len(ops) == 1, [op["op_name"] for op in it._get_ops_details()]
    details = {d["index"]: d for d in it.get_tensor_details()}
    _, filt, bias = ops[0]["inputs"]
    return details[filt], details[bias]


def one(name, shape, filters, kernel, strides, padding, activation, seed):
    model = build(shape, filters, kernel, strides, padding, activation, seed)
    flat = convert(model, shape, seed)
    from ai_edge_litert.interpreter import Interpreter

    probe = Interpreter(model_content=flat)
    probe.allocate_tensors()
    inp = probe.get_input_details()[0]
    out = probe.get_output_details()[0]
    in_s, in_zp = inp["quantization"]
    out_s, out_zp = out["quantization"]
    rng = np.random.default_rng(seed + 1)
    x_q = rng.integers(-128, 128, size=shape, dtype=np.int64).astype(np.int8)
    it, y = run_reference(flat, x_q)
    filt, bias = conv_tensors(it)
    w = it.get_tensor(filt["index"])  # OHWI
    b = it.get_tensor(bias["index"])
    w_scales = filt["quantization_parameters"]["scales"].astype(np.float32)
    assert np.all(filt["quantization_parameters"]["zero_points"] == 0), "symmetric weights"
    assert w.shape[0] == filters and len(w_scales) == filters, (w.shape, len(w_scales))
    tensors = {
        "x": x_q,
        "kernel": np.ascontiguousarray(w.transpose(1, 2, 3, 0)),  # -> HWIO (Keras)
        "bias": b.astype(np.int32),
        "kernel_scale": w_scales,
        "io_quant": np.array([in_s, in_zp, out_s, out_zp], dtype=np.float32),
        "y": y.astype(np.int8),
    }
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    meta = {
        "strides": str(strides),
        "padding": padding,
        "activation": activation or "linear",
        "kernel": f"{kh},{kw}",
    }
    save_file(tensors, str(OUT / f"{name}.safetensors"), metadata=meta)
    log(
        f"{name}: x {shape} -> y {y.shape}, input scale {in_s:.6g} zp {in_zp}, "
        f"output scale {out_s:.6g} zp {out_zp}, y range [{y.min()}, {y.max()}]"
    )


SEED_UNET_CONVS = ("conv1", "conv2", "conv3", "conv4", "up1", "up2", "up3", "up4", "out")


def seed_unet_nearest():
    """The seed U-Net (tools/keras_fixtures.py's, with its fixture weights), each
    `UpSampling2D(2)` a `Resizing(interpolation="nearest")` to twice the size:
    the same function, and TF 2.21's converter turns it into
    RESIZE_NEAREST_NEIGHBOR (UpSampling2D becomes TILE v3, which no
    interpreter here runs)."""
    import keras
    from keras import layers
    from safetensors.numpy import load_file

    def conv(name, filters, **kw):
        return layers.Conv2D(filters, 3, padding="same", name=name, **kw)

    def up(t):
        h, w = t.shape[1], t.shape[2]
        return layers.Resizing(2 * h, 2 * w, interpolation="nearest")(t)

    x = keras.Input((32, 32, 3), name="x")
    c1 = conv("conv1", 32, strides=2, activation="relu")(x)
    c2 = conv("conv2", 64, strides=2, activation="relu")(c1)
    c3 = conv("conv3", 128, strides=2, activation="relu")(c2)
    c4 = conv("conv4", 128, strides=2, activation="relu")(c3)
    u1 = conv("up1", 128, activation="relu")(up(c4))
    m1 = layers.Concatenate(name="merge1")([c3, u1])
    u2 = conv("up2", 64, activation="relu")(up(m1))
    m2 = layers.Concatenate(name="merge2")([c2, u2])
    u3 = conv("up3", 32, activation="relu")(up(m2))
    m3 = layers.Concatenate(name="merge3")([c1, u3])
    u4 = conv("up4", 32)(up(m3))
    out = conv("out", 3)(u4)
    model = keras.Model(x, out)
    w = load_file(str(ROOT / "tests" / "fixtures" / "seed_unet" / "weights.safetensors"))
    for name in SEED_UNET_CONVS:
        model.get_layer(name).set_weights([w[f"{name}.kernel"], w[f"{name}.bias"]])
    return model


def seed_unet_int8():
    """tests/fixtures/int8/seed_unet/: the int8 seed U-Net as TFLite quantizes it
    (calibrated on 64 random frames in [-1, 1)), the seed_unet fixture's input
    quantized, and every conv's int8 output from the reference interpreter.

    weights.safetensors: per conv `<name>.kernel` (int8, Keras layout),
    `<name>.bias` (int32), `<name>.kernel_scale` (f32 per filter) and
    `<name>.quant` (f32 [scale, zero point] of its output), and `x.quant`.
    io.safetensors: `x` (int8, the fixture input quantized by TFLite), `y`
    (int8, the network's output) and `<name>` (int8) for every conv's output.
    """
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    from safetensors.numpy import load_file

    model = seed_unet_nearest()
    flat = convert(model, (32, 32, 3), seed=7)
    it = Interpreter(
        model_content=flat,
        experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
        experimental_preserve_all_tensors=True,
    )
    it.allocate_tensors()
    inp = it.get_input_details()[0]
    in_s, in_zp = inp["quantization"]
    x = load_file(str(ROOT / "tests" / "fixtures" / "seed_unet" / "io.safetensors"))["x"]
    x_q = np.clip(np.round(x / in_s) + in_zp, -128, 127).astype(np.int8)
    it.set_tensor(inp["index"], x_q[None])
    it.invoke()
    details = {d["index"]: d for d in it.get_tensor_details()}
    ops = it._get_ops_details()
    kinds = [op["op_name"] for op in ops]
    log(f"seed_unet int8 ops: {kinds}")
    convs = [op for op in ops if op["op_name"] == "CONV_2D"]
    assert len(convs) == len(SEED_UNET_CONVS), kinds
    weights = {"x.quant": np.array([in_s, in_zp], dtype=np.float32)}
    io = {"x": x_q}
    for name, op in zip(SEED_UNET_CONVS, convs, strict=True):
        _, f, b = op["inputs"]
        want_filters = model.get_layer(name).filters
        w = it.get_tensor(f)
        assert w.shape[0] == want_filters, (name, w.shape)
        q = details[f]["quantization_parameters"]
        assert np.all(q["zero_points"] == 0)
        o = details[op["outputs"][0]]
        weights[f"{name}.kernel"] = np.ascontiguousarray(w.transpose(1, 2, 3, 0))
        weights[f"{name}.bias"] = it.get_tensor(b).astype(np.int32)
        weights[f"{name}.kernel_scale"] = q["scales"].astype(np.float32)
        weights[f"{name}.quant"] = np.array(o["quantization"], dtype=np.float32)
        io[name] = it.get_tensor(o["index"])[0].astype(np.int8)
    # Concatenation and nearest resizing keep their input's quantization in
    # TFLite's int8 spec: checked here, so the Rust side may copy bytes.
    for op in ops:
        if op["op_name"] in ("CONCATENATION", "RESIZE_NEAREST_NEIGHBOR"):
            qs = {details[t]["quantization"] for t in [*op["inputs"][:1], *op["outputs"]]}
            if op["op_name"] == "CONCATENATION":
                qs |= {details[t]["quantization"] for t in op["inputs"]}
            assert len(qs) == 1, (op["op_name"], qs)
    io["y"] = it.get_tensor(it.get_output_details()[0]["index"])[0].astype(np.int8)
    d = OUT / "seed_unet"
    d.mkdir(parents=True, exist_ok=True)
    save_file(weights, str(d / "weights.safetensors"))
    save_file(io, str(d / "io.safetensors"))
    n = sum(v.nbytes for k, v in weights.items() if k.endswith((".kernel", ".bias")))
    log(f"seed_unet int8: weights {n} bytes, y range [{io['y'].min()}, {io['y'].max()}]")


# name: (input hwc, relu after the add)
ADD_CASES = {"add_relu": ((7, 9, 6), True), "add_linear": ((5, 6, 10), False)}


def add_case(name, shape, relu, seed):
    """An int8 ADD (ApesBlock's merge: a 3x3 conv with relu plus a 1x1 conv),
    its two int8 inputs as the interpreter computed them, their and the
    output's quantization and the fused activation:

        a, b     int8 [h, w, c]   the ADD's inputs
        y        int8 [h, w, c]   its output
        quant    f32  [6]         a scale, zp; b scale, zp; y scale, zp

    metadata `activation`: what TFLite fused into the ADD (a trailing ReLU
    layer is fused when the converter can)."""
    import keras
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    keras.utils.set_random_seed(seed)
    x = keras.Input(shape)
    a = keras.layers.Conv2D(shape[2], 3, padding="same", activation="relu")(x)
    b = keras.layers.Conv2D(shape[2], 1)(x)
    y = keras.layers.Add()([a, b])
    if relu:
        y = keras.layers.ReLU()(y)
    flat = convert(keras.Model(x, y), shape, seed)
    it = Interpreter(
        model_content=flat,
        experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
        experimental_preserve_all_tensors=True,
    )
    it.allocate_tensors()
    rng = np.random.default_rng(seed + 1)
    x_q = rng.integers(-128, 128, size=shape, dtype=np.int64).astype(np.int8)
    it.set_tensor(it.get_input_details()[0]["index"], x_q[None])
    it.invoke()
    ops = it._get_ops_details()
    kinds = [op["op_name"] for op in ops]
    adds = [op for op in ops if op["op_name"] == "ADD"]
    assert len(adds) == 1, kinds
    fused = "relu" if relu and "RELU" not in kinds else "linear"
    details = {d["index"]: d for d in it.get_tensor_details()}
    ia, ib = adds[0]["inputs"]
    io = adds[0]["outputs"][0]
    q = [v for t in (ia, ib, io) for v in details[t]["quantization"]]
    tensors = {
        "a": it.get_tensor(ia)[0].astype(np.int8),
        "b": it.get_tensor(ib)[0].astype(np.int8),
        "y": it.get_tensor(io)[0].astype(np.int8),
        "quant": np.array(q, dtype=np.float32),
    }
    save_file(tensors, str(OUT / f"{name}.safetensors"), metadata={"activation": fused})
    log(f"{name}: ops {kinds}, fused {fused}, quant {np.round(q, 6).tolist()}")


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for i, (name, case) in enumerate(sorted(CASES.items())):
        one(name, *case, seed=100 + i)
    for i, (name, case) in enumerate(sorted(ADD_CASES.items())):
        add_case(name, *case, seed=200 + i)
    seed_unet_int8()


if __name__ == "__main__":
    main()
