#!/usr/bin/env python3
"""The declarations of tests/fixtures/plans/ (issue 16: plans at the bound for
concat-heavy networks): keras.applications.DenseNet121 and NASNetMobile at
64x64x3 (weights=None, logits), converted by tools/keras_to_skipnet.py. Only the
declarations are committed: the macro's `zoo_plans_near_their_bound` test plans
them (`cargo test -p skipnet-macros zoo_plans -- --nocapture`), no weights needed.

    /tmp/venv/bin/python tools/plan_fixtures.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "plans"

sys.path.insert(0, str(Path(__file__).resolve().parent))


def models():
    import keras

    shape = (64, 64, 3)
    return {
        "densenet121": (
            "DenseNet121",
            lambda: keras.applications.DenseNet121(
                weights=None, input_shape=shape, classifier_activation=None
            ),
        ),
        "nasnet_mobile": (
            "NasNetMobile",
            lambda: keras.applications.NASNetMobile(
                weights=None, input_shape=shape, classifier_activation=None
            ),
        ),
    }


def main() -> int:
    import keras_to_skipnet

    OUT.mkdir(parents=True, exist_ok=True)
    for file, (name, build) in models().items():
        model = build()
        source, _ = keras_to_skipnet.convert(model, name, shapes=False, source=f"{file}.keras", bake=None)
        path = OUT / f"{file}.rs"
        path.write_text(source)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
