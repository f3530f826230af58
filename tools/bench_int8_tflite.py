"""Times the TFLite interpreter on the int8 seed U-Net that
tests/fixtures/int8/seed_unet/ was made from (tools/tflite_int8_fixtures.py's
model and converter), one thread, with XNNPACK, with TFLite's own optimized
kernels, and with its reference kernels: the peers of `cargo bench --bench
networks -- int8`.

    python tools/bench_int8_tflite.py [--seconds 3]
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tflite_int8_fixtures as fixtures  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0, help="timed seconds per engine")
    args = ap.parse_args()
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    flat = fixtures.convert(fixtures.seed_unet_nearest(), (32, 32, 3), seed=7)
    engines = [
        ("xnnpack", {}),
        (
            "tflite (no delegate)",
            {"experimental_op_resolver_type": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES},
        ),
        ("tflite reference", {"experimental_op_resolver_type": OpResolverType.BUILTIN_REF}),
    ]
    for name, kw in engines:
        it = Interpreter(model_content=flat, num_threads=1, **kw)
        it.allocate_tensors()
        it.set_tensor(it.get_input_details()[0]["index"], np.full((1, 32, 32, 3), 3, np.int8))
        for _ in range(10):
            it.invoke()
        times = []
        end = time.perf_counter() + args.seconds
        while time.perf_counter() < end:
            t = time.perf_counter()
            it.invoke()
            times.append(time.perf_counter() - t)
        print(f"{name}: median {statistics.median(times) * 1e3:.3f} ms over {len(times)} runs")


if __name__ == "__main__":
    main()
