"""What the Python tools share, so that none imports another for it: the
repository root and logging, Rust naming rules (the importer's and the
round-trip check's), and the anchor models' set-up, export, output check,
timing and environment record (bench_peers.py's and bench_layers.py's).
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ANCHORS = (ROOT / ".." / "shared" / "anchors").resolve()
DEFAULT_MODELS = ("seed_unet", "seed_unet_256", "apes_block_net", "resnet_like_224")  # models.py's
EXTRA_MODELS = ("mobilenet_v2",)  # tools/extra_anchors.py's (tools/bench_layers.py cannot export these)
TOL = 1e-4
RUST_KEYWORDS = set(
    """
as break const continue crate else enum extern false fn for if impl in let loop match mod
move mut pub ref return self Self static struct super trait true type unsafe use where
while async await dyn abstract become box do final macro override priv typeof unsized
virtual yield try gen union
""".split()
)

MAX_IDENT = 200  # the macro rejects names longer than 255 bytes


def log(msg):
    print(msg, flush=True)


# ---------------------------------------------------------------- naming
def rust_ident(name: str) -> str:
    """A Keras name made into a Rust identifier (not yet unique)."""
    s = re.sub(r"[^A-Za-z0-9_]", "_", name)
    if not s or s == "_":
        s = "layer"
    if s[0].isdigit():
        s = "l" + s
    s = s[:MAX_IDENT]
    if s in RUST_KEYWORDS:
        s += "_"
    return s


def camel_case(name: str) -> str:
    parts = [p for p in re.split(r"[^A-Za-z0-9]+", name) if p]
    s = "".join(p[:1].upper() + p[1:] for p in parts) or "Net"
    if s[0].isdigit():
        s = "Net" + s
    return s + "Net" if s in RUST_KEYWORDS else s


def snake_case(name: str) -> str:
    s = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name)
    s = re.sub(r"(?<=[A-Z])([A-Z][a-z])", r"_\1", s)
    s = re.sub(r"[^a-z0-9_]", "_", s.lower()).strip("_")
    return rust_ident(s or "net")


# ---------------------------------------------------------------- anchors
def import_anchors(path):
    sys.path.insert(0, str(path))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import bench_anchors  # noqa: E402
    import models  # noqa: E402

    return bench_anchors, Models(models)


class Models:
    """models.py's models, then tools/extra_anchors.py's (models.py is read-only here):
    build(name, seed) and weight_role(w) from whichever module has `name`."""

    def __init__(self, shared):
        sys.path.insert(0, str(ROOT / "tools"))
        import extra_anchors  # noqa: E402

        self.shared, self.extra = shared, extra_anchors
        self.MODEL_NAMES = tuple(shared.MODEL_NAMES) + tuple(
            m for m in extra_anchors.MODEL_NAMES if m not in shared.MODEL_NAMES
        )

    def is_extra(self, name):
        return name not in self.shared.MODEL_NAMES

    def module(self, name):
        return self.extra if self.is_extra(name) else self.shared

    def build(self, name, seed=0):
        return self.module(name).build(name, seed=seed)

    def weight_role(self, w):
        return self.shared.weight_role(w)

    def export(self, ba, names, out):
        """bench_anchors.export for models.py's models, extra_anchors.export for the
        others; one meta.json for all."""
        shared = [m for m in names if not self.is_extra(m)]
        extra = [m for m in names if self.is_extra(m)]
        meta = ba.export(shared, out) if shared else {}
        meta.update(self.extra.export(extra, out) if extra else {})
        with open(f"{out}/meta.json", "w") as f:
            json.dump(meta, f, indent=1)
        return meta

    def peer_cmd(self, anchors, model, engine, out, min_time):
        """bench_anchors.py `run` (through extra_anchors.py `run` for its models)."""
        tail = ["--model", model, "--engine", engine, "--out", out, "--min-time", str(min_time)]
        if self.is_extra(model):
            return [
                sys.executable,
                str(ROOT / "tools" / "extra_anchors.py"),
                "run",
                "--anchors",
                str(anchors),
            ] + tail
        return [sys.executable, str(anchors / "bench_anchors.py"), "run"] + tail


def export_skipnet_inputs(models, name, out):
    """Weights with DSL names and the seeded input, as safetensors; returns Keras's y."""
    import numpy as np
    from safetensors.numpy import save_file

    m = models.build(name, seed=0)
    weights = {}
    for layer in m.layers:
        for w in layer.weights:
            weights[f"{layer.name}.{models.weight_role(w)}"] = np.ascontiguousarray(
                np.asarray(w), dtype=np.float32
            )
    x = np.load(f"{out}/{name}.x.npy")
    y = np.load(f"{out}/{name}.y.npy")
    # The peers' reference came from an identical build; make sure of it.
    y2 = np.asarray(m(x, training=False))
    if not np.array_equal(y, y2):
        raise SystemExit(
            f"{name}: rebuilt Keras model disagrees with the exported one "
            f"(max diff {np.abs(y - y2).max():.3g})"
        )
    save_file(weights, f"{out}/{name}.weights.safetensors")
    save_file({"x": np.ascontiguousarray(x[0])}, f"{out}/{name}.x.safetensors")
    return y


def check_output(out, name, y_ref):
    import numpy as np
    from safetensors.numpy import load_file

    y = load_file(f"{out}/{name}.skipnet.y.safetensors")["y"]
    ref = y_ref.reshape(y_ref.shape[1:]) if y_ref.shape[0] == 1 else y_ref
    if y.shape != ref.shape:
        return {"ok": False, "error": f"shape {y.shape} vs Keras {ref.shape}"}
    d = np.abs(y.astype(np.float64) - ref.astype(np.float64))
    max_abs = float(d.max())
    close = bool(np.allclose(y, ref, rtol=TOL, atol=TOL))
    return {
        "ok": bool(max_abs <= TOL or close),
        "max_abs_diff": max_abs,
        "max_rel_diff": float(max_abs / max(float(np.abs(ref).max()), 1e-30)),
        "allclose_1e-4": close,
        "finite": bool(np.isfinite(y).all()),
    }


def timed(ba, cmd, a, label):
    """Runs `cmd` (prints a `RESULT {json}` line) after waiting for a quiet machine;
    repeats while other processes used more than --max-foreign cores during the timed
    loop, keeps the quietest attempt.  Returns the result dict with noise fields."""
    best, waited, tries = None, 0.0, []
    for attempt in range(1, a.max_attempts + 1):
        w = ba.wait_quiet(a.max_foreign, max_wait=a.max_wait)
        waited += w
        p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        line = [x for x in p.stdout.splitlines() if x.startswith("RESULT ")]
        if p.returncode != 0 or not line:
            return {"error": (p.stderr or p.stdout)[-1500:], "quiet_wait_s": waited, "attempts": attempt}
        r = json.loads(line[-1][len("RESULT ") :])
        tries.append(
            {
                "attempt": attempt,
                "wait_s": w,
                "wait_timed_out": w > a.max_wait,
                "median_us": r["median_us"],
                "foreign_cores": r["foreign_cores"],
            }
        )
        if best is None or (r["foreign_cores"] or 0) < (best["foreign_cores"] or 0):
            best = r
        if r["foreign_cores"] is not None and r["foreign_cores"] <= a.max_foreign:
            break
        log(
            f"[noisy] {label}: other processes used {r['foreign_cores']:.2f} cores during timing"
            + (f" (machine not quiet after {w:.0f} s wait)" if w > a.max_wait else "")
            + ("; repeating" if attempt < a.max_attempts else "; keeping the quietest attempt")
        )
    best["quiet_wait_s"] = waited
    best["attempts"] = len(tries)
    best["tries"] = tries
    return best


def environment(ba):
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    v = ba.versions()
    for tool, cmd in (("rustc", ["rustc", "-V"]), ("cargo", ["cargo", "-V"])):
        try:
            v[tool] = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT).stdout.strip()
        except OSError:
            pass
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip()
        v["skipnet"] = rev + (" + uncommitted changes" if dirty else "")
    except OSError:
        pass
    return {
        "cpu": cpu,
        "nproc": os.cpu_count(),
        "kernel": platform.release(),
        "versions": v,
        "env": {
            k: os.environ.get(k)
            for k in (
                "OPENBLAS_CORETYPE",
                "OPENBLAS_L2_SIZE",
                "TF_ENABLE_ONEDNN_OPTS",
                "OMP_NUM_THREADS",
                "RUSTFLAGS",
                "CARGO_TARGET_DIR",
            )
        },
    }
