#!/usr/bin/env python3
"""Per-layer times of the anchor models, skipnet beside onnxruntime, inside the whole
network (issue 13): where between and around the convs does the time go?

    /tmp/venv/bin/python tools/bench_layers.py --peak-gflops <GFLOP/s>         # all four anchors
    /tmp/venv/bin/python tools/bench_layers.py --models seed_unet --engines ort_nchw --min-time 2

For each model (../shared/anchors/models.py, `--anchors`):
  1. bench_anchors.export() and bench_peers.export_skipnet_inputs(): the seeded Keras
     model's tf2onnx (NHWC) and direct NCHW ONNX graphs, its weights and input as
     safetensors (the artefacts bench_peers.py uses; `--skip-export` reuses them);
  2. skipnet: `cargo bench --bench anchors --features profile --no-run` once, then the
     binary with `--profile <model>.layers.json`: every step of `forward` timed with
     two `Instant`s (feature `profile`, `Name::profile()`), mean µs per call over the
     timed loop, plus the whole `forward`; its output is checked against Keras;
  3. onnxruntime, one process per engine, intra_op = inter_op = 1, sequential,
     ORT_ENABLE_ALL, `enable_profiling`: node events (`"cat": "Node"`, name ending in
     `_kernel_time`, `dur` µs) of the runs after the warm-up, averaged per run; the
     whole run is the `model_run` event. ORT nodes are mapped to Keras layers by name
     (tf2onnx: `.../<layer>_1/Conv2D`; direct: `<layer>`, `<layer>.relu`); nodes of
     no layer (layout transposes, NCHWc reorders) are "(other)";
  4. a markdown table per model: each Keras layer's MFLOP (2 x MACs, from the macro),
     µs per call, GFLOP/s and % of `--peak-gflops` per engine, skipnet / ORT; then the
     sum of the layers, "between layers" (whole run minus that sum) and the whole run.

A layer computed inside another (skipnet fuses a residual add and its relu into the
conv that produces one operand; ORT fuses Conv+Add+Relu) shows "fused": its time is
in that conv's row. Both profilers add a little per node (two clock reads in skipnet,
an event record in ORT); the unprofiled ORT median is printed for comparison.

Artefacts go to --out (default /tmp/skipnet-layers), never into the repository.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import skipnet_common as bp  # noqa: E402

ROOT = bp.ROOT
ENGINES = ("ort", "ort_nchw")
LABEL = {"ort": "ORT NHWC", "ort_nchw": "ORT NCHW"}
log = bp.log


# --------------------------------------------------------------------------- skipnet
def build_profiled():
    """`cargo bench --bench anchors --features profile --no-run`; the executable's path."""
    cmd = [
        "cargo",
        "bench",
        "--bench",
        "anchors",
        "--features",
        "profile",
        "--no-run",
        "--message-format=json-render-diagnostics",
    ]
    log(f"[build] {' '.join(cmd)}")
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    exe = None
    for line in p.stdout.splitlines():
        try:
            msg = json.loads(line)
        except json.JSONDecodeError:
            continue
        if (
            msg.get("reason") == "compiler-artifact"
            and msg.get("target", {}).get("name") == "anchors"
            and msg.get("executable")
        ):
            exe = msg["executable"]
    if p.returncode != 0 or exe is None:
        sys.stderr.write(p.stderr[-4000:])
        raise SystemExit(f"[build] {' '.join(cmd)} failed")
    return exe


def run_skipnet(ba, exe, model, a):
    out = str(a.out)
    prof = f"{out}/{model}.skipnet.layers.json"
    cmd = [
        exe,
        model,
        "--weights",
        f"{out}/{model}.weights.safetensors",
        "--input",
        f"{out}/{model}.x.safetensors",
        "--output",
        f"{out}/{model}.skipnet.y.safetensors",
        "--min-time",
        str(a.min_time),
        "--profile",
        prof,
    ]
    r = bp.timed(ba, cmd, a, f"{model} skipnet")
    if "error" in r:
        raise SystemExit(f"{model}: skipnet failed: {r['error']}")
    with open(prof) as f:
        r["profile"] = json.load(f)
    return r


# --------------------------------------------------------------------------- onnxruntime
def ort_worker(ba, model, engine, out, min_time):
    """One unprofiled ORT session, then one with profiling, both timed by
    bench_anchors.time_fn; prints `RESULT {json}` (the profiled run's timing)."""
    import numpy as np
    import onnxruntime as ort

    nchw = engine == "ort_nchw"
    path = f"{out}/{model}_nchw.onnx" if nchw else f"{out}/{model}.onnx"
    x = np.load(f"{out}/{model}.x.npy")
    xin = np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if nchw else x

    def session(profile):
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if profile:
            so.enable_profiling = True
            so.profile_file_prefix = f"{out}/{model}.{engine}.ortprof"
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        return sess, lambda: sess.run(None, {name: xin})

    # Unprofiled first, for the profiler's overhead.
    _, call = session(False)
    plain = ba.time_fn(call, min_time=min_time / 2)

    sess, call = session(True)
    warm, t0 = 0, time.perf_counter()
    while warm < 5 or time.perf_counter() - t0 < 1.0:
        call()
        warm += 1
    res = ba.time_fn(call, min_time=min_time, warmup_iters=0, warmup_time=0.0)
    prof = sess.end_profiling()
    with open(prof) as f:
        events = json.load(f)
    runs = sorted(
        (e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"),
        key=lambda e: e["ts"],
    )
    timed_runs = runs[warm:]
    t_start = timed_runs[0]["ts"]
    nodes = {}
    for e in events:
        if e.get("cat") != "Node" or not e.get("name", "").endswith("_kernel_time") or e["ts"] < t_start:
            continue
        n = e["name"][: -len("_kernel_time")]
        d = nodes.setdefault(n, {"op": e.get("args", {}).get("op_name", "?"), "us": 0.0})
        d["us"] += e["dur"]
    k = len(timed_runs)
    for d in nodes.values():
        d["us"] /= k
    owners = weight_owners(path)
    for n, d in nodes.items():
        for key in (n, re.sub(r"_nchwc$", "", n), re.sub(r"(:\d+)?_nchwc$", "", n)):
            if key in owners:
                d["names"] = owners[key]
                break
    res.update(
        {
            "model": model,
            "engine": engine,
            "runs": k,
            "profile_file": prof,
            "run_mean_us": sum(e["dur"] for e in timed_runs) / k,
            "plain_median_us": plain["median_us"],
            "nodes": nodes,
        }
    )
    print("RESULT " + json.dumps(res), flush=True)


def run_ort(ba, model, engine, a):
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--ort-worker",
        model,
        engine,
        "--anchors",
        str(a.anchors.resolve()),
        "--out",
        str(a.out),
        "--min-time",
        str(a.min_time),
    ]
    r = bp.timed(ba, cmd, a, f"{model} {engine}")
    if "error" in r:
        log(f"[ort] {model} {engine}: {r['error'][-800:]}")
    return r


WEIGHTED = {"Conv", "ConvTranspose", "Gemm", "MatMul", "FusedConv"}
# Ops after a conv that ORT folds or fuses into it (an unfused batch norm's Mul and
# Add, the activation, a residual Add).
FOLLOWERS = {"Relu", "Clip", "Sigmoid", "LeakyRelu", "HardSigmoid", "Tanh", "Add", "Mul"}


def weight_owners(path):
    """The ONNX graph's tensor and node names -> the names of the conv or matmul that
    computes them (its weight input and its node name; also through the batch norm,
    activation or add right after it, which ORT fuses into the conv and names by
    that op's output). tf2onnx names some convs `Conv__594` but their weights after
    the Keras layer, and others the other way round, so these names say which
    layer an ORT node is when its own name does not."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    owner = {}
    for node in graph.node:
        names = None
        if node.op_type in WEIGHTED and len(node.input) > 1:
            names = [node.input[1], node.name]
        elif node.op_type in FOLLOWERS and node.input and node.input[0] in owner:
            names = owner[node.input[0]]
        if names is not None:
            for key in [node.name, *node.output]:
                owner.setdefault(key, names)
    return owner


def layer_of(node, layers):
    """The Keras layer an ORT node belongs to: a `/`-, `.`- or `:`-separated part of its
    name equal to a layer name, possibly with ORT's `_nchwc` (NCHWc layout transformer)
    and Keras 3's `_<n>` suffixes; None otherwise."""
    parts = [re.sub(r"_nchwc$", "", p) for p in re.split(r"[/.:]", node)]
    for strip in (lambda p: p, lambda p: re.sub(r"_\d+$", "", p)):
        for p in parts:
            if strip(p) in layers:
                return strip(p)
    return None


# --------------------------------------------------------------------------- table
def fmt(v, spec):
    return "—" if v is None else format(v, spec)


def skipnet_by_layer(sk):
    """skipnet's profiled steps summed per layer: op, MACs and mean µs."""
    sk_by = {}
    for s in sk["profile"]["steps"]:
        d = sk_by.setdefault(s["name"], {"op": s["op"], "macs": 0, "us": 0.0})
        d["macs"] += s["macs"]
        d["us"] += s["mean_us"]
    return sk_by


def ort_by_layer(orts, kind):
    """Each ORT engine's node times summed per Keras layer (`(other)` for nodes
    of no layer), and the other nodes' times per op type."""
    ort_by = {}
    for e, r in orts.items():
        by, other = {}, {}
        for n, d in r["nodes"].items():
            owned = (layer_of(x, kind) for x in d.get("names", []))
            layer = next((x for x in owned if x is not None), None) or layer_of(n, kind)
            if layer is None:
                other[d["op"]] = other.get(d["op"], 0.0) + d["us"]
                layer = "(other)"
            by[layer] = by.get(layer, 0.0) + d["us"]
        ort_by[e] = (by, other)
    return ort_by


def table(model, keras_layers, sk, orts, peak):
    layer_names = [n for n, _ in keras_layers]
    kind = dict(keras_layers)
    sk_by = skipnet_by_layer(sk)
    ort_by = ort_by_layer(orts, kind)
    rows = [n for n in layer_names if n in sk_by or any(n in b for b, _ in ort_by.values())]
    rows += [n for n in sk_by if n not in rows]
    if any("(other)" in b for b, _ in ort_by.values()):
        rows.append("(other)")

    def gf(flop, us):
        return None if not flop or not us else flop / (us * 1e3)

    def pct(g):
        return None if g is None or not peak else 100 * g / peak

    head = ["layer", "op", "MFLOP", "skipnet µs", "GFLOP/s", "% peak"]
    for e in orts:
        head += [f"{LABEL[e]} µs", "GFLOP/s", "% peak", f"skipnet / {LABEL[e]}"]
    lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(head) - 2)]

    def cells(us_sk, flop, ort_us):
        c = [
            fmt(us_sk, ".1f") if us_sk is not None else "fused",
            fmt(gf(flop, us_sk), ".1f"),
            fmt(pct(gf(flop, us_sk)), ".0f"),
        ]
        for e in orts:
            u = ort_us.get(e)
            g = gf(flop, u)
            c += [
                fmt(u, ".1f") if u is not None else "fused",
                fmt(g, ".1f"),
                fmt(pct(g), ".0f"),
                fmt(us_sk / u if us_sk and u else None, ".2f"),
            ]
        return c

    tot_sk, tot_ort = 0.0, {e: 0.0 for e in orts}
    for n in rows:
        s = sk_by.get(n)
        flop = 2 * s["macs"] if s else 0
        op = s["op"] if s else kind.get(n, "")
        if n == "(other)":
            op = ", ".join(
                f"{o} {u:.0f}"
                for o, u in sorted(
                    {k: v for e in orts for k, v in ort_by[e][1].items()}.items(), key=lambda kv: -kv[1]
                )[:4]
            )
        ort_us = {e: ort_by[e][0].get(n) for e in orts}
        if n == "(other)":
            ort_us = {e: ort_by[e][0].get(n, 0.0) for e in orts}
        us_sk = s["us"] if s else (0.0 if n == "(other)" else None)
        tot_sk += us_sk or 0.0
        for e in orts:
            tot_ort[e] += ort_us[e] or 0.0
        lines.append(
            "| "
            + " | ".join([n, op, fmt(flop / 1e6 if flop else None, ".2f")] + cells(us_sk, flop, ort_us))
            + " |"
        )
    flops = 2 * sk["profile"]["macs"]
    whole_sk = sk["profile"]["forward_mean_us"]
    whole_ort = {e: r["run_mean_us"] for e, r in orts.items()}
    lines.append(
        "| **sum of layers** | | "
        + f"{flops / 1e6:.2f} | "
        + " | ".join(cells(tot_sk, flops, tot_ort))
        + " |"
    )
    between = {e: whole_ort[e] - tot_ort[e] for e in orts}
    c = [f"{whole_sk - tot_sk:.1f}", "", ""]
    for e in orts:
        c += [f"{between[e]:.1f}", "", "", ""]
    lines.append("| **between layers** | | | " + " | ".join(c) + " |")
    lines.append(
        "| **whole run** | | "
        + f"{flops / 1e6:.2f} | "
        + " | ".join(cells(whole_sk, flops, whole_ort))
        + " |"
    )
    notes = [
        f"skipnet: {sk['profile']['calls']} profiled calls, bench median {sk['median_us']:.1f} µs "
        f"(whole `forward` in the profile {whole_sk:.1f} µs)"
    ]
    for e, r in orts.items():
        notes.append(
            f"{LABEL[e]}: {r['runs']} profiled runs (mean `model_run` {r['run_mean_us']:.1f} µs, "
            f"median call {r['median_us']:.1f} µs); unprofiled median {r['plain_median_us']:.1f} µs"
        )
    return "\n".join([f"**{model}**", ""] + lines + [""] + [f"- {n}" for n in notes]) + "\n"


# --------------------------------------------------------------------------- main
def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--ort-worker":
        w = argparse.ArgumentParser()
        w.add_argument("--ort-worker", nargs=2)
        w.add_argument("--anchors")
        w.add_argument("--out")
        w.add_argument("--min-time", type=float)
        wa = w.parse_args()
        sys.path.insert(0, wa.anchors)
        import bench_anchors  # noqa: E402 (no TensorFlow import)

        ort_worker(bench_anchors, wa.ort_worker[0], wa.ort_worker[1], wa.out, wa.min_time)
        return

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--anchors", type=Path, default=bp.DEFAULT_ANCHORS)
    ap.add_argument("--models", nargs="+", default=list(bp.DEFAULT_MODELS))
    ap.add_argument("--engines", nargs="+", default=list(ENGINES), choices=ENGINES)
    ap.add_argument("--min-time", type=float, default=4.0, help="timed seconds per run (after 1 s warm-up)")
    ap.add_argument(
        "--peak-gflops",
        type=float,
        default=None,
        help="one core's f32 peak (`cargo bench --bench conv -- peak`); adds %% peak columns",
    )
    ap.add_argument("--out", type=Path, default=Path("/tmp/skipnet-layers"))
    ap.add_argument("--max-foreign", type=float, default=0.05)
    ap.add_argument("--max-wait", type=float, default=180.0)
    ap.add_argument("--max-attempts", type=int, default=3)
    ap.add_argument("--skip-export", action="store_true", help="reuse the artefacts already in --out")
    ap.add_argument("--json", type=Path, default=None, help="results (default: <out>/bench_layers.json)")
    a = ap.parse_args()

    ba, models = bp.import_anchors(a.anchors.resolve())
    a.out.mkdir(parents=True, exist_ok=True)
    out = str(a.out)
    exe = build_profiled()
    if not a.skip_export:
        models.export(ba, a.models, out)
    res = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **bp.environment(ba),
        "peak_gflops": a.peak_gflops,
        "models": {},
    }
    md = []
    for model in a.models:
        y_ref = bp.export_skipnet_inputs(models, model, out)
        m = models.build(model, seed=0)
        keras_layers = [
            (layer.name, type(layer).__name__) for layer in m.layers if type(layer).__name__ != "InputLayer"
        ]
        sk = run_skipnet(ba, exe, model, a)
        chk = bp.check_output(out, model, y_ref)
        if not chk["ok"]:
            raise SystemExit(f"{model}: skipnet output differs from Keras: {chk}")
        orts = {}
        for e in a.engines:
            r = run_ort(ba, model, e, a)
            if "error" not in r:
                orts[e] = r
        t = table(model, keras_layers, sk, orts, a.peak_gflops)
        log(f"[done] {model}")
        md.append(t)
        res["models"][model] = {"skipnet": sk, "ort": orts, "check": chk, "table_md": t}
    json_path = a.json or a.out / "bench_layers.json"
    with open(json_path, "w") as f:
        json.dump(res, f, indent=1)
    print("\n" + "\n".join(md))
    print(
        f"CPU: {res['cpu']} ({res['nproc']} logical CPUs); peak {a.peak_gflops} GFLOP/s; "
        + ", ".join(f"{k} {v}" for k, v in res["versions"].items())
    )
    print(f"wrote {json_path}")


if __name__ == "__main__":
    main()
