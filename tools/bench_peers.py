#!/usr/bin/env python3
"""skipnet beside its peers (onnxruntime, TFLite/XNNPACK, Keras) on the anchor models,
in one sitting, on this machine.

    export CARGO_TARGET_DIR=/tmp/target-bench
    /tmp/venv/bin/python tools/bench_peers.py                       # all five anchors
    /tmp/venv/bin/python tools/bench_peers.py --models seed_unet --min-time 2 \\
        --engines ort ort_nchw tflite keras_tf_function --peak-gflops 275

For each model (from ../shared/anchors/models.py, `--anchors`, else from
tools/extra_anchors.py, which holds mobilenet_v2: keras.applications.MobileNetV2):
  1. bench_anchors.export() (extra_anchors.export() for the models of extra_anchors.py,
     the same files): seeded Keras model, seeded input x, Keras's output y, the
     tf2onnx (NHWC) and direct NCHW ONNX graphs and the TFLite flatbuffer;
  2. the same seeded model's weights as <out>/<model>.weights.safetensors with the DSL
     names (f"{layer.name}.{variable}", Keras layouts) and x as <model>.x.safetensors;
  3. skipnet: `cargo bench --bench anchors --features parallel --no-run` once, then the binary
     (benches/anchors.rs) directly; its output is checked against Keras's
     (max abs error <= 1e-4, or numpy allclose with rtol = atol = 1e-4);
  4. the peers through bench_anchors.py's `run` command (one process per engine);
  5. a markdown table, a noise report and <out>/bench_peers.json.

Before every timed process the driver waits, up to --max-wait s, until the whole machine
used less than --max-foreign cores over one second (bench_anchors.wait_quiet). Each
timed process measures how many cores everything else used during its timed loop; a run
above --max-foreign is repeated (at most --max-attempts times) and the quietest attempt
is kept. Every run's wait, attempts and foreign load are printed and saved.

Models supported by skipnet: seed_unet, seed_unet_256, apes_block_net, resnet_like_224
and mobilenet_v2 (the binary's `--list` is the authority; a new model is one `network!`
declaration and one `"name" => Type` line in benches/anchors.rs). Asked for a model the
binary does not know, the script still times the peers and leaves skipnet's cells empty.

Engines (--engines, base names; --threads picks the _1t/_2t variant of bench_anchors.py):
  ort                 onnxruntime on the tf2onnx graph (NHWC I/O)
  ort_nchw            onnxruntime on onnx_direct.py's NCHW graph (input fed in NCHW)
  tflite              ai_edge_litert Interpreter, default XNNPACK delegate
  keras_tf_function   tf.function(model), TF intra = inter = 1 (1 thread only)
  keras_predict       model.predict_on_batch, TF intra = inter = 1 (1 thread only)
Default: ort ort_nchw tflite (tflite skipped if ai_edge_litert is not installed).
skipnet runs with --threads N as a workspace of N threads (the bench binary is built
with `--features parallel`; one `forward` splits each big conv across the threads).

Artefacts (ONNX, TFLite, safetensors, npy, JSON) go to --out (default
/tmp/skipnet-bench), never into the repository. See doc/benchmarks.md for the columns.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from skipnet_common import (
    DEFAULT_ANCHORS,
    DEFAULT_MODELS,
    EXTRA_MODELS,
    ROOT,
    TOL,
    check_output,
    environment,
    export_skipnet_inputs,
    import_anchors,
    log,
    timed,
)

DEFAULT_ENGINES = ("ort", "ort_nchw", "tflite")
KERAS_ENGINES = ("keras_tf_function", "keras_predict")
ALL_ENGINES = ("ort", "ort_nchw", "tflite") + KERAS_ENGINES
ENGINE_LABEL = {
    "ort": "ORT NHWC (tf2onnx)",
    "ort_nchw": "ORT NCHW (direct)",
    "tflite": "TFLite XNNPACK",
    "keras_tf_function": "Keras tf.function",
    "keras_predict": "Keras predict_on_batch",
}


# --------------------------------------------------------------------------- set-up
def peer_engine(base, threads):
    """bench_anchors.py's engine name for a base engine at `threads`, or None."""
    if base in KERAS_ENGINES:
        return base if threads == 1 else None
    return f"{base}_{threads}t"


def build_skipnet():
    """`cargo bench --bench anchors --features parallel --no-run`; returns the executable's path."""
    env = dict(os.environ)
    env.setdefault("CARGO_TARGET_DIR", "/tmp/target-bench")
    cmd = [
        "cargo",
        "bench",
        "--bench",
        "anchors",
        "--features",
        "parallel",
        "--no-run",
        "--message-format=json-render-diagnostics",
    ]
    log(f"[build] CARGO_TARGET_DIR={env['CARGO_TARGET_DIR']} {' '.join(cmd)}")
    p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
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
        raise SystemExit("[build] cargo bench --bench anchors --features parallel --no-run failed")
    log(f"[build] {exe}")
    return exe


# --------------------------------------------------------------------------- timing
def print_run(model, engine, r, flops):
    if "error" in r:
        log(f"[run] {model:15s} {engine:18s} ERROR {r['error'][-400:]}")
        return
    r["gflops"] = flops / (r["median_us"] * 1e-6) / 1e9
    log(
        f"[run] {model:15s} {engine:18s} median {r['median_us']:10.1f} us  p10 {r['p10_us']:10.1f}"
        f"  p90 {r['p90_us']:10.1f}  n={r['n']:5d}  {r['gflops']:6.1f} GFLOP/s"
        f"  foreign {r['foreign_cores']:.2f} cores  waited {r['quiet_wait_s']:.0f} s"
        f"  attempts {r['attempts']}"
    )


# --------------------------------------------------------------------------- report
def fmt_us(r):
    if r is None:
        return "—"
    if "error" in r:
        return "error"
    return f"{r['median_us']:.1f}"


def tables(res, a):
    lines = []
    for threads in a.threads:
        peers = [e for e in a.engines if peer_engine(e, threads)]
        head = (
            ["model", "MFLOP", "skipnet median µs (p10–p90)"]
            + [f"{ENGINE_LABEL[e]} µs" for e in peers]
            + ["skipnet / best peer", "skipnet GFLOP/s"]
            + (["% peak"] if a.peak_gflops else [])
            + ["max abs err vs Keras"]
        )
        lines += [
            f"**{threads} thread{'s' if threads > 1 else ''}**, batch 1, f32, median of per-call times"
            + (f"; each engine's median of {a.rounds} round-robin rounds" if a.rounds > 1 else ""),
            "",
            "| " + " | ".join(head) + " |",
            "|" + "---|" * 2 + "---:|" * (len(head) - 2),
        ]
        for model, m in res["models"].items():
            runs = m["runs"].get(str(threads), {})
            sk = runs.get("skipnet")
            cells = [model, f"{m['flops'] / 1e6:.2f}"]
            if sk and "error" not in sk:
                cells.append(f"{sk['median_us']:.1f} ({sk['p10_us']:.1f}–{sk['p90_us']:.1f})")
            else:
                cells.append(fmt_us(sk))
            cells += [fmt_us(runs.get(e)) for e in peers]
            ok_peers = [runs[e]["median_us"] for e in peers if runs.get(e) and "error" not in runs[e]]
            if sk and "error" not in sk and ok_peers:
                best = min(ok_peers)
                cells.append(f"{sk['median_us'] / best:.2f}")
            else:
                cells.append("—")
            if sk and "error" not in sk:
                g = m["flops"] / (sk["median_us"] * 1e-6) / 1e9
                cells.append(f"{g:.1f}")
                if a.peak_gflops:
                    cells.append(f"{100 * g / (threads * a.peak_gflops):.0f}%")
            else:
                cells += ["—"] + (["—"] if a.peak_gflops else [])
            chk = m.get("check")
            cells.append(
                "—"
                if not chk or "max_abs_diff" not in chk
                else f"{chk['max_abs_diff']:.1e}" + ("" if chk["ok"] else " FAIL")
            )
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def noise_table(res):
    lines = [
        "| model | threads | engine | attempts | waited s | foreign cores (kept run) | "
        "foreign cores (all attempts) | p90/p10 |",
        "|---|---:|---|---:|---:|---:|---|---:|",
    ]
    for model, m in res["models"].items():
        for threads, runs in m["runs"].items():
            for engine, r in runs.items():
                if "error" in r:
                    lines.append(
                        f"| {model} | {threads} | {engine} | {r.get('attempts', '')} | "
                        f"{r.get('quiet_wait_s', 0):.0f} | error | | |"
                    )
                    continue
                fa = ", ".join(f"{t['foreign_cores']:.2f}" for t in r.get("tries", []))
                lines.append(
                    f"| {model} | {threads} | {engine} | {r['attempts']} | {r['quiet_wait_s']:.0f} | "
                    f"{r['foreign_cores']:.3f} | {fa} | {r['p90_us'] / r['p10_us']:.2f} |"
                )
    return "\n".join(lines)


# --------------------------------------------------------------------------- main
def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--anchors",
        type=Path,
        default=DEFAULT_ANCHORS,
        help="folder with models.py and bench_anchors.py (default: %(default)s)",
    )
    ap.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS + EXTRA_MODELS))
    ap.add_argument(
        "--engines",
        nargs="+",
        default=None,
        choices=ALL_ENGINES,
        help=f"peer engines (default: {' '.join(DEFAULT_ENGINES)})",
    )
    ap.add_argument("--threads", nargs="+", type=int, default=[1], choices=[1, 2])
    ap.add_argument("--min-time", type=float, default=4.0, help="timed seconds per run (after 1 s warm-up)")
    ap.add_argument(
        "--peak-gflops",
        type=float,
        default=None,
        help="one core's f32 peak in GFLOP/s; adds a %% peak column (threads x peak)",
    )
    ap.add_argument("--out", type=Path, default=Path("/tmp/skipnet-bench"))
    ap.add_argument("--json", type=Path, default=None, help="results file (default: <out>/bench_peers.json)")
    ap.add_argument(
        "--max-foreign",
        type=float,
        default=0.05,
        help="quiet = other processes below this many cores (default: %(default)s)",
    )
    ap.add_argument(
        "--max-wait",
        type=float,
        default=180.0,
        help="longest wait for a quiet machine before each timed process, s (default: %(default)s)",
    )
    ap.add_argument(
        "--max-attempts",
        type=int,
        default=3,
        help="repeats of a run disturbed by other processes (default: %(default)s)",
    )
    ap.add_argument("--skip-export", action="store_true", help="reuse the artefacts already in --out")
    ap.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run every engine this many times, round-robin, and report each engine's "
        "median of its round medians (default: %(default)s)",
    )
    return ap.parse_args()


def main():
    a = parse_args()
    ba, models = import_anchors(a.anchors.resolve())
    if a.engines is None:
        a.engines = [
            e
            for e in DEFAULT_ENGINES
            if e != "tflite" or importlib.util.find_spec("ai_edge_litert") is not None
        ]
        if "tflite" not in a.engines:
            log("[note] ai_edge_litert not installed: TFLite skipped")
    for m in a.models:
        if m not in models.MODEL_NAMES:
            raise SystemExit(
                f"unknown model {m}; models.py and tools/extra_anchors.py have "
                f"{', '.join(models.MODEL_NAMES)}"
            )
    a.out.mkdir(parents=True, exist_ok=True)
    out = str(a.out)
    json_path = a.json or a.out / "bench_peers.json"

    exe = build_skipnet()
    known = subprocess.run([exe, "--list"], capture_output=True, text=True, check=True).stdout.split()
    log(f"[skipnet] models in benches/anchors.rs: {', '.join(known)}")

    if a.skip_export:
        with open(f"{out}/meta.json") as f:
            meta = json.load(f)
    else:
        meta = models.export(ba, a.models, out)

    t_start = time.time()
    res = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **environment(ba),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()},
        "skipnet_exe": exe,
        "models": {},
    }
    failed = []
    for model in a.models:
        res["models"][model] = bench_model(ba, models, exe, known, model, meta[model], a, failed)
    res["elapsed_s"] = time.time() - t_start
    report(res, a, json_path)
    if failed:
        raise SystemExit(f"skipnet output check failed for: {', '.join(failed)}")


def bench_model(ba, models, exe, known, model, meta, a, failed):
    """Every engine on `model` at each thread count, `a.rounds` rounds
    round-robin; skipnet's output checked against Keras on its first round."""
    out = str(a.out)
    y_ref = export_skipnet_inputs(models, model, out)
    flops = meta["flops"]
    mres = {
        "flops": flops,
        "params": meta["params"],
        "input_shape": meta["input_shape"],
        "output_shape": meta["output_shape"],
        "runs": {},
    }
    for threads in a.threads:
        runs = mres["runs"].setdefault(str(threads), {})
        if model not in known:
            log(f"[skipnet] {model}: not declared in benches/anchors.rs, peers only")
        engines = (["skipnet"] if model in known else []) + [b for b in a.engines if peer_engine(b, threads)]
        rounds = {e: [] for e in engines}
        # Round-robin: every engine once per round, so a drift of the
        # machine's speed (tens of percent over minutes on a shared VM)
        # hits all engines alike; each engine's median of its round medians
        # is reported.
        for rnd in range(a.rounds):
            for e in engines:
                if e == "skipnet":
                    r = run_skipnet(ba, exe, model, threads, a)
                    print_run(model, f"skipnet_{threads}t r{rnd + 1}", r, flops)
                    if "error" in r:
                        failed.append(model)
                    elif rnd == 0:
                        check_skipnet(out, model, threads, y_ref, mres, r, failed)
                else:
                    engine = peer_engine(e, threads)
                    cmd = models.peer_cmd(a.anchors.resolve(), model, engine, out, a.min_time)
                    r = timed(ba, cmd, a, f"{model} {engine}")
                    print_run(model, f"{engine} r{rnd + 1}", r, flops)
                rounds[e].append(r)
        for e, rs in rounds.items():
            runs[e] = median_round(rs)
    return mres


def run_skipnet(ba, exe, model, threads, a):
    """One timed run of benches/anchors.rs on `model`."""
    out = str(a.out)
    cmd = [
        exe,
        model,
        "--weights",
        f"{out}/{model}.weights.safetensors",
        "--input",
        f"{out}/{model}.x.safetensors",
        "--output",
        f"{out}/{model}.skipnet.y.safetensors",
        "--out-json",
        f"{out}/{model}.skipnet.json",
        "--min-time",
        str(a.min_time),
        "--threads",
        str(threads),
    ]
    return timed(ba, cmd, a, f"{model} skipnet")


def check_skipnet(out, model, threads, y_ref, mres, r, failed):
    """skipnet's output of run `r` against Keras's, recorded in `mres` and `r`."""
    chk = check_output(out, model, y_ref)
    mres.setdefault("check", chk)
    r["check"] = chk
    if chk["ok"]:
        log(
            f"[check] {model} ({threads}t): skipnet vs Keras max abs error "
            f"{chk['max_abs_diff']:.2e} (<= {TOL:g} or allclose rtol=atol={TOL:g}): OK"
        )
    else:
        failed.append(model)
        log(f"[check] {model} ({threads}t): skipnet vs Keras FAILED: {chk}")


def median_round(rs):
    """An engine's median round (by median time), with every round's median and
    the attempts and waits of all of them."""
    ok = sorted((r for r in rs if "error" not in r), key=lambda r: r["median_us"])
    if not ok:
        return rs[0]
    mid = dict(ok[(len(ok) - 1) // 2])
    mid["round_medians_us"] = [r["median_us"] for r in rs if "error" not in r]
    mid["attempts"] = sum(r["attempts"] for r in ok)
    mid["quiet_wait_s"] = sum(r["quiet_wait_s"] for r in ok)
    mid["tries"] = [t for r in ok for t in r["tries"]]
    return mid


def report(res, a, json_path):
    """Writes the results JSON and prints the tables, the noise verdict and
    the environment."""
    table = tables(res, a)
    noise = noise_table(res)
    res["table_md"], res["noise_md"] = table, noise
    with open(json_path, "w") as f:
        json.dump(res, f, indent=1)

    print()
    print(table)
    print(
        "Noise (other processes' CPU use during each timed loop; a run above "
        f"{a.max_foreign} cores was repeated, up to {a.max_attempts} attempts, quietest kept):\n"
    )
    print(noise)
    allr = [
        r
        for m in res["models"].values()
        for rs in m["runs"].values()
        for r in rs.values()
        if "error" not in r
    ]
    if allr:
        worst = max(r["foreign_cores"] for r in allr)
        retries = sum(r["attempts"] - 1 for r in allr)
        timeouts = sum(t["wait_timed_out"] for r in allr for t in r["tries"])
        verdict = "quiet" if worst <= a.max_foreign else "NOISY: treat these timings as preliminary"
        print(
            f"\nworst foreign load in a kept run: {worst:.3f} cores; retries: {retries}; "
            f"waits that hit --max-wait ({a.max_wait:.0f} s): {timeouts}; "
            f"total quiet-wait {sum(r['quiet_wait_s'] for r in allr):.0f} s -> {verdict}"
        )
    print(f"\nCPU: {res['cpu']} ({res['nproc']} logical CPUs)")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in res["versions"].items()))
    print(f"wrote {json_path}")


if __name__ == "__main__":
    main()
