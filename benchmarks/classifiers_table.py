"""The table of the shipped domain classifiers in docs/EVALUATION.md, from their JSON records.

    python benchmarks/classifiers_table.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import write_section  # noqa: E402

from ganlab.metrics.classifier import SHIPPED_CLASSIFIERS, shipped_classifier_paths  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    lines = ["| classifier | train / test | test accuracy | training (s, threads) | command | SHA-256 |",
             "| --- | ---: | ---: | ---: | --- | --- |"]
    for name in SHIPPED_CLASSIFIERS:
        weights, record = shipped_classifier_paths(name)
        if not record.is_file():
            lines.append(f"| `{name}` | | not shipped | | | |")
            continue
        r = json.loads(record.read_text())
        lines.append(f"| `{name}` | {r['n_train']} / {r['n_test']} | **{100 * r['test_accuracy']:.2f} %** | "
                     f"{r['seconds']:.0f}, {r['threads']} | `{r['command']}` | `{r['sha256'][:16]}…` |")
    write_section("classifiers", "\n".join(lines), ROOT / "docs" / "EVALUATION.md", append=False)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
