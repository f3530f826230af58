#!/usr/bin/env python3
"""onnxruntime's own per-node times for any saved Keras model: where the peer spends
its time, to set beside skipnet's per-layer profile (`--features profile`,
`Name::profile()`) of the same model.

    /tmp/venv/bin/python tools/importer_roundtrip.py app_efficientnet_b0_224   # writes the model
    /tmp/venv/bin/python tools/ort_profile.py /tmp/skipnet-importer/app_efficientnet_b0_224/model.keras

The model is exported as tools/importer_roundtrip.py's `--ort` exports it (tf2onnx,
opset 17, batch 1) and run the same way (one thread, sequential, all graph
optimizations), with `SessionOptions.enable_profiling`: `--warmup` runs, then `--runs`
profiled runs on a seeded uniform(-1, 1) input. Printed: the median `model_run`
(profiling adds a little per node, so it is above the unprofiled median `--ort`
reports), the sum of node medians per op type, and the `--top` slowest nodes with
their input and output shapes. tf2onnx names fused convs `Conv__<n>`, so the shapes
(NCHW; `[C_out, C_in/groups, kh, kw]` for the kernel) are what tell which Keras
layer a node is.

The profile's JSON goes to --out (default /tmp/skipnet-ort-profile), never into the
repository.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", type=Path, help="a saved Keras model (.keras)")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--top", type=int, default=40, help="slowest nodes to list")
    ap.add_argument("--out", type=Path, default=Path("/tmp/skipnet-ort-profile"))
    a = ap.parse_args(argv)

    import keras
    import numpy as np
    import onnxruntime as ort
    import tensorflow as tf
    import tf2onnx

    model = keras.saving.load_model(a.model)
    spec = tuple(
        tf.TensorSpec((1,) + tuple(t.shape[1:]), tf.float32, name=f"in{i}")
        for i, t in enumerate(model.inputs)
    )
    proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=17)
    a.out.mkdir(parents=True, exist_ok=True)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.enable_profiling = True
    so.profile_file_prefix = str(a.out / "ort")
    sess = ort.InferenceSession(proto.SerializeToString(), so, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(1000)
    feed = {
        i.name: rng.uniform(-1.0, 1.0, size=(1,) + tuple(t.shape[1:])).astype(np.float32)
        for i, t in zip(sess.get_inputs(), model.inputs, strict=True)
    }
    for _ in range(a.warmup + a.runs):
        sess.run(None, feed)
    events = json.loads(Path(sess.end_profiling()).read_text())

    def median(xs):
        xs = sorted(xs)
        return xs[len(xs) // 2]

    runs = [e["dur"] for e in events if e.get("name") == "model_run"][-a.runs :]
    nodes = collections.defaultdict(list)
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            nodes[e["name"].removesuffix("_kernel_time")].append(e)
    rows = []
    for name, evs in nodes.items():
        last = evs[-1]["args"]

        def shapes(key, last=last):
            return [next(iter(s.values())) for s in last.get(key, [])]

        rows.append(
            (
                median([e["dur"] for e in evs[-a.runs :]]),
                last.get("op_name"),
                name,
                shapes("input_type_shape"),
                shapes("output_type_shape"),
            )
        )
    rows.sort(key=lambda r: -r[0])
    print(
        f"model_run median {median(runs) / 1e3:.3f} ms, node medians sum {sum(r[0] for r in rows) / 1e3:.3f} ms"
    )
    per_op = collections.Counter()
    for us, op, *_ in rows:
        per_op[op] += us
    for op, us in per_op.most_common():
        print(f"  {op:24} {us / 1e3:8.3f} ms")
    print(f"\nthe {min(a.top, len(rows))} slowest nodes (µs, op, inputs -> outputs, node):")
    for us, op, name, ins, outs in rows[: a.top]:
        print(f"  {us:7d}  {op:12} {ins} -> {outs}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
