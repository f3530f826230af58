#!/usr/bin/env python3
"""Anchor models kept in this repository, beside ../shared/anchors/models.py (which is
read-only here). tools/bench_peers.py looks a model up in models.py first, then here.

Same interface as models.py: MODEL_NAMES, build(name, seed), weight_role(w),
make_input(model, seed), count_flops(model); plus what bench_anchors.py does for the
models of models.py, for these:

  export(names, out)   x/y .npy, tf2onnx NHWC ONNX, direct NCHW ONNX, TFLite, meta
                       (the same files and options as bench_anchors.export)
  python tools/extra_anchors.py run --anchors DIR --model M --engine E --out OUT --min-time S
                       bench_anchors.run_one for a model of this file (one timed run, a
                       `RESULT {json}` line): bench_anchors's own timing code; only
                       models.build is extended, in this process, so the Keras engines
                       can build these models too.

Models
------
mobilenet_v2   keras.applications.MobileNetV2 as shipped: 224x224x3, alpha 1.0,
               include_top=True (GAP + Dense(1000, softmax)), weights=None; 156 layers,
               3,538,984 parameters. Weights seeded from numpy (models.py's way: the
               same on every TF/Keras version): He-normal kernels (depthwise: fan-in
               kh*kw), uniform biases, BN gamma in [0.5, 1.5), beta in [-0.1, 0.1); then
               every BatchNormalization's moving mean and variance, in graph order, set to
               the statistics of its input on a seeded batch of 4 (what training leaves
               behind), so they are far from the trivial 0 / 1 and the activations stay
               O(1) through the 17 blocks.

FLOPs here are 2 * MACs of Conv2D, DepthwiseConv2D and Dense (models.py counts Conv2D
and Dense; its models have no depthwise convs).
"""

from __future__ import annotations

import json
import math
import os
import sys

import numpy as np

MODEL_NAMES = ("mobilenet_v2",)


# --------------------------------------------------------------------------- builders
def mobilenet_v2():
    import keras

    return keras.applications.MobileNetV2(
        input_shape=(224, 224, 3), alpha=1.0, include_top=True, weights=None
    )


_BUILDERS = {"mobilenet_v2": mobilenet_v2}


# --------------------------------------------------------------------------- weights
def weight_role(w) -> str:
    """'kernel' / 'bias' / 'gamma' / ... for a Keras 3 variable (as models.py)."""
    path = getattr(w, "path", None) or w.name
    return path.split("/")[-1].split(":")[0]


def init_weights(model, seed: int = 0) -> None:
    """Deterministic numpy init, layer by layer in model.layers order."""
    from keras import layers

    rng = np.random.default_rng(seed)
    for layer in model.layers:
        for w in layer.weights:
            role = weight_role(w)
            shape = tuple(w.shape)
            if role == "kernel":
                # DepthwiseConv2D kernel [kh, kw, in, multiplier]: each output sees kh*kw inputs
                fan_in = (
                    int(np.prod(shape[:2]))
                    if isinstance(layer, layers.DepthwiseConv2D)
                    else int(np.prod(shape[:-1]))
                )
                val = rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)
            elif role == "gamma":
                val = rng.uniform(0.5, 1.5, size=shape)
            elif role in ("bias", "beta"):
                val = rng.uniform(-0.1, 0.1, size=shape)
            elif role == "moving_mean":
                val = np.zeros(shape)  # set by calibrate_bn
            elif role == "moving_variance":
                val = np.ones(shape)  # set by calibrate_bn
            else:
                raise ValueError(f"{layer.name}: unexpected variable {role}")
            w.assign(val.astype(np.float32))


def calibrate_bn(model, seed: int = 0, batch: int = 4) -> None:
    """Every BatchNormalization's moving mean / variance, in graph order, := the
    per-channel mean / variance of its input on a seeded batch in [-1, 1)."""
    import keras

    x = (
        np.random.default_rng(7 + seed)
        .uniform(-1.0, 1.0, size=(batch,) + tuple(model.inputs[0].shape[1:]))
        .astype(np.float32)
    )
    # One eager pass through the layer graph (model.layers is in topological order),
    # each BatchNormalization calibrated just before it is applied.
    val = {id(model.inputs[0]): x}
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        node = layer._inbound_nodes[0]
        ins = [val[id(t)] for t in node.input_tensors]
        if isinstance(layer, keras.layers.BatchNormalization):
            h = np.asarray(ins[0], np.float64)
            axes = tuple(range(h.ndim - 1))
            layer.moving_mean.assign(h.mean(axis=axes).astype(np.float32))
            layer.moving_variance.assign(h.var(axis=axes).astype(np.float32))
        y = layer(ins if len(ins) > 1 else ins[0], training=False)
        val[id(node.output_tensors[0])] = np.asarray(y)


def build(name: str, seed: int = 0):
    import keras

    keras.utils.set_random_seed(seed)
    model = _BUILDERS[name]()
    init_weights(model, seed)
    calibrate_bn(model, seed)
    return model


def make_input(model, seed: int = 0, batch: int = 1) -> np.ndarray:
    """Seeded NHWC float32 input in [-1, 1) (models.make_input's stream)."""
    shape = (batch,) + tuple(model.input_shape[1:])
    return np.random.default_rng(1000 + seed).uniform(-1.0, 1.0, size=shape).astype(np.float32)


# --------------------------------------------------------------------------- flops
def count_flops(model) -> dict:
    """FLOPs = 2*MACs of Conv2D, DepthwiseConv2D and Dense layers."""
    from keras import layers

    per_layer, total = [], 0
    for layer in model.layers:
        if isinstance(layer, layers.DepthwiseConv2D):
            _, ho, wo, co = layer.output.shape
            kh, kw = layer.kernel_size
            macs = ho * wo * co * kh * kw
        elif isinstance(layer, layers.Conv2D):
            _, ho, wo, co = layer.output.shape
            kh, kw = layer.kernel_size
            macs = ho * wo * co * kh * kw * layer.input.shape[-1] // layer.groups
        elif isinstance(layer, layers.Dense):
            macs = layer.input.shape[-1] * layer.units
        else:
            continue
        per_layer.append((layer.name, 2 * int(macs)))
        total += 2 * int(macs)
    return {"flops": total, "per_layer": per_layer}


# --------------------------------------------------------------------------- NCHW ONNX
def _same_pads(in_size, k, s):
    """TF 'same' padding: (before, after)."""
    out = math.ceil(in_size / s)
    total = max((out - 1) * s + k - in_size, 0)
    return total // 2, total - total // 2


def keras_to_onnx_nchw(model, opset: int = 17):
    """An NCHW ONNX graph (onnx.helper) of a model made of the layers MobileNetV2 uses:
    Conv2D, DepthwiseConv2D (Conv, group = channels), BatchNormalization
    (BatchNormalization, inference), ReLU / ReLU(max_value) (Relu / Clip), ZeroPadding2D
    (Pad), Add, GlobalAveragePooling2D, Dense (Gemm, + Softmax). Layer for layer, as
    shared/anchors/onnx_direct.py does for models.py; fusions are left to onnxruntime's
    graph optimizer. Input NCHW [1, C, H, W]."""
    import onnx
    from onnx import TensorProto, helper

    inp = model.inputs[0]
    _, h, w, c = inp.shape
    b = _OnnxNchw()
    b.names[id(inp)] = "input"
    graph_inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, c, h, w])]
    for layer in model.layers:
        b.layer(layer)
    out_t = model.outputs[0]
    oshape = [1] + list(out_t.shape[1:])
    if len(oshape) == 4:
        oshape = [oshape[0], oshape[3], oshape[1], oshape[2]]
    graph_outputs = [helper.make_tensor_value_info(b.names[id(out_t)], TensorProto.FLOAT, oshape)]
    graph = helper.make_graph(b.nodes, model.name + "_nchw", graph_inputs, graph_outputs, b.inits)
    m = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="skipnet/tools/extra_anchors.py"
    )
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def _as_list(x):
    return x if isinstance(x, (list, tuple)) else [x]


class _OnnxNchw:
    """The nodes and initializers of `keras_to_onnx_nchw`'s graph, one method
    per Keras layer type."""

    def __init__(self):
        self.nodes, self.inits, self.names = [], [], {}

    def init(self, name, arr):
        from onnx import numpy_helper

        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr, dtype=np.float32), name))
        return name

    def node(self, *args, **kwargs):
        from onnx import helper

        self.nodes.append(helper.make_node(*args, **kwargs))

    def layer(self, layer):
        """Appends `layer`'s nodes (named after it)."""
        from keras import layers

        if isinstance(layer, layers.InputLayer):
            return
        ins = [self.names[id(t)] for t in _as_list(layer.input)]
        out = layer.name
        self.names[id(layer.output)] = out
        cfg = layer.get_config()
        kinds = (
            ((layers.Conv2D, layers.DepthwiseConv2D), self.conv),
            (layers.BatchNormalization, self.batch_norm),
            (layers.ReLU, self.relu),
            (layers.ZeroPadding2D, self.zero_padding),
            (layers.Add, self.add),
            (layers.GlobalAveragePooling2D, self.global_avg_pool),
            (layers.Dense, self.dense),
        )
        for cls, emit in kinds:
            if isinstance(layer, cls):
                return emit(layer, ins, out, cfg)
        raise NotImplementedError(type(layer).__name__)

    def activation(self, act, pre, out, lname):
        if act == "linear":
            return
        if act == "relu":
            self.node("Relu", [pre], [out], name=lname + ".relu")
        elif act == "relu6":
            lo, hi = self.init(lname + ".min", np.array(0.0)), self.init(lname + ".max", np.array(6.0))
            self.node("Clip", [pre, lo, hi], [out], name=lname + ".relu6")
        elif act == "softmax":
            self.node("Softmax", [pre], [out], name=lname + ".softmax", axis=-1)
        else:
            raise NotImplementedError(act)

    def conv(self, layer, ins, out, cfg):
        from keras import layers

        depthwise = isinstance(layer, layers.DepthwiseConv2D)
        assert cfg.get("data_format", "channels_last") == "channels_last"
        kern = np.asarray(layer.kernel)
        kh, kw = layer.kernel_size
        sh, sw = layer.strides
        _, ih, iw, cin = layer.input.shape
        if layer.padding == "same":
            pt, pb = _same_pads(ih, kh, sh)
            pl, pr = _same_pads(iw, kw, sw)
        else:
            pt = pb = pl = pr = 0
        if depthwise:  # [kh, kw, C, m] -> [C*m, 1, kh, kw]
            w_oihw = kern.reshape(kh, kw, 1, cin * kern.shape[3]).transpose(3, 2, 0, 1)
            group = cin
        else:  # [kh, kw, C/g, F] -> [F, C/g, kh, kw]
            w_oihw = kern.transpose(3, 2, 0, 1)
            group = layer.groups
        conv_in = [ins[0], self.init(f"{out}.W", w_oihw)]
        if layer.use_bias:
            conv_in.append(self.init(f"{out}.B", np.asarray(layer.bias)))
        act = cfg["activation"]
        pre = out if act == "linear" else out + ".pre"
        self.node(
            "Conv",
            conv_in,
            [pre],
            name=out,
            kernel_shape=[kh, kw],
            strides=[sh, sw],
            pads=[pt, pl, pb, pr],
            dilations=list(layer.dilation_rate),
            group=group,
        )
        self.activation(act, pre, out, out)

    def batch_norm(self, layer, ins, out, cfg):
        assert layer.axis in (-1, 3) or list(_as_list(layer.axis)) in ([-1], [3])
        ch = layer.input.shape[-1]
        gamma = np.asarray(layer.gamma) if layer.scale else np.ones(ch)
        beta = np.asarray(layer.beta) if layer.center else np.zeros(ch)
        self.node(
            "BatchNormalization",
            [
                ins[0],
                self.init(f"{out}.scale", gamma),
                self.init(f"{out}.bias", beta),
                self.init(f"{out}.mean", np.asarray(layer.moving_mean)),
                self.init(f"{out}.var", np.asarray(layer.moving_variance)),
            ],
            [out],
            name=out,
            epsilon=float(layer.epsilon),
        )

    def relu(self, layer, ins, out, cfg):
        assert not cfg.get("negative_slope") and not cfg.get("threshold")
        mx = cfg.get("max_value")
        if mx is None:
            self.node("Relu", ins, [out], name=out)
        else:
            lo, hi = self.init(f"{out}.min", np.array(0.0)), self.init(f"{out}.max", np.array(float(mx)))
            self.node("Clip", [ins[0], lo, hi], [out], name=out)

    def zero_padding(self, layer, ins, out, cfg):
        from onnx import numpy_helper

        (t, b), (left, r) = layer.padding
        pads = f"{out}.pads"
        self.inits.append(numpy_helper.from_array(np.array([0, 0, t, left, 0, 0, b, r], np.int64), pads))
        self.node("Pad", [ins[0], pads], [out], name=out, mode="constant")

    def add(self, layer, ins, out, cfg):
        assert len(ins) == 2
        self.node("Add", ins, [out], name=out)

    def global_avg_pool(self, layer, ins, out, cfg):
        assert not cfg.get("keepdims")
        self.node("GlobalAveragePool", ins, [out + ".4d"], name=out)
        self.node("Flatten", [out + ".4d"], [out], name=out + ".flatten", axis=1)

    def dense(self, layer, ins, out, cfg):
        w_ = [self.init(f"{out}.W", np.asarray(layer.kernel))]
        if layer.use_bias:
            w_.append(self.init(f"{out}.B", np.asarray(layer.bias)))
        act = cfg["activation"]
        pre = out if act == "linear" else out + ".pre"
        self.node("Gemm", [ins[0]] + w_, [pre], name=out)
        self.activation(act, pre, out, out)


# --------------------------------------------------------------------------- export
def _op_hist(ops):
    h = {}
    for o in ops:
        h[o] = h.get(o, 0) + 1
    return h


def export(model_names, out) -> dict:
    """bench_anchors.export for the models of this file: the same files in `out`
    (<name>.x.npy, .y.npy, .onnx, _nchw.onnx, .tflite) and the same meta fields.
    Returns {name: meta}; meta.json is left to the caller."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import onnx
    import tensorflow as tf
    import tf2onnx

    os.makedirs(out, exist_ok=True)
    meta_all = {}
    for name in model_names:
        m = build(name, seed=0)
        x = make_input(m, seed=0)
        y = np.asarray(m(x, training=False))
        np.save(f"{out}/{name}.x.npy", x)
        np.save(f"{out}/{name}.y.npy", y)
        fl = count_flops(m)
        in_shape = (1,) + tuple(m.input_shape[1:])
        meta = {
            "params": int(m.count_params()),
            "flops": fl["flops"],
            "input_shape": list(in_shape),
            "output_shape": [1] + list(m.output_shape[1:]),
            "n_conv": sum(1 for layer in m.layers if isinstance(layer, keras.layers.Conv2D)),
            "n_depthwise": sum(1 for layer in m.layers if isinstance(layer, keras.layers.DepthwiseConv2D)),
            "n_dense": sum(1 for layer in m.layers if isinstance(layer, keras.layers.Dense)),
            "flops_counted": "Conv2D, DepthwiseConv2D, Dense",
            "source": "tools/extra_anchors.py",
        }
        spec = (tf.TensorSpec(in_shape, tf.float32, name="input"),)
        try:
            mp, _ = tf2onnx.convert.from_keras(
                m, input_signature=spec, opset=17, output_path=f"{out}/{name}.onnx"
            )
            meta["onnx_path"] = "tf2onnx.convert.from_keras(opset=17)"
            meta["onnx_ops"] = _op_hist([n.op_type for n in mp.graph.node])
        except Exception as e:  # pragma: no cover
            meta["onnx_error"] = repr(e)[:500]
        om = keras_to_onnx_nchw(m)
        onnx.save(om, f"{out}/{name}_nchw.onnx")
        meta["onnx_nchw_ops"] = _op_hist([n.op_type for n in om.graph.node])
        try:
            inp = keras.Input(batch_shape=in_shape, name="input")
            m1 = keras.Model(inp, m(inp))
            conv = tf.lite.TFLiteConverter.from_keras_model(m1)
            blob = conv.convert()
            with open(f"{out}/{name}.tflite", "wb") as f:
                f.write(blob)
            meta["tflite_path"] = "tf.lite.TFLiteConverter.from_keras_model(static batch 1), float32"
        except Exception as e:  # pragma: no cover
            meta["tflite_error"] = repr(e)[:500]
        meta_all[name] = meta
        print(f"[export] {name}: params={meta['params']} MFLOP={meta['flops'] / 1e6:.2f}", flush=True)
    return meta_all


# --------------------------------------------------------------------------- run
def main(argv=None):
    import argparse

    ap = argparse.ArgumentParser(description="bench_anchors.py `run` for the models of extra_anchors.py")
    ap.add_argument("cmd", choices=["run"])
    ap.add_argument("--anchors", required=True, help="folder with bench_anchors.py and models.py")
    ap.add_argument("--model", required=True, choices=MODEL_NAMES)
    ap.add_argument("--engine", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--min-time", type=float, default=4.0)
    a = ap.parse_args(argv)
    sys.path.insert(0, os.path.abspath(a.anchors))
    import bench_anchors
    import models  # the module bench_anchors.run_one imports for the Keras engines

    shared_build = models.build

    def build_any(name, seed=0):
        return build(name, seed) if name in MODEL_NAMES else shared_build(name, seed)

    models.build = build_any
    print("RESULT " + json.dumps(bench_anchors.run_one(a.model, a.engine, a.out, a.min_time)), flush=True)


if __name__ == "__main__":
    main()
