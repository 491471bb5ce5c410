"""Which digits a Stacked-MNIST generator over- and under-draws, and how sure the classifier is of them.

For each run folder given (its last checkpoint; the EMA generator when the run keeps one) the script draws
26 000 samples from the run's own evaluation latents, as its final evaluation did, and labels each of the
R, G, B channels with the shipped MNIST classifier (softmax p(y|x)); beside them, 26 000 real training triples
(seed 0). Per run: the digit frequencies q_c(d) averaged over the three channels, the channels' imbalance
sum_c KL(q_c || U_10) (the part of the mode KL that is not the channels' dependence, `ganlab.metrics.stacked_mnist`),
the classifier's mean max_y p(y|x) and the share of channel images with max_y p(y|x) < 0.9, and the imbalance
counted over the confident ones only (max_y p(y|x) >= 0.99): if the generator drew every digit equally
often and only its unclear strokes fell into some classes, this would be near the real floor.

    python benchmarks/stacked_digits.py RUN [RUN ...] --write
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from ganlab.build import eval_latents
from ganlab.data import get_dataset
from ganlab.metrics.classifier import EVAL_BATCH, load_shipped_classifier
from ganlab.runs import load_run

N = 26000
CONFIDENT = 0.99


def channel_probabilities(images: torch.Tensor, classifier: torch.nn.Module) -> np.ndarray:
    """p(y | x_c) for every channel: images (N, 3, H, W) in [-1, 1] -> (N, 3, 10)."""
    out = []
    with torch.no_grad():
        for x in images.split(EVAL_BATCH // 3):  # 3 grey images each
            n, _, h, w = x.shape
            grey = ((x + 1) / 2).clamp(0, 1).reshape(n * 3, 1, h, w)
            out.append(torch.softmax(classifier(grey).double(), dim=1).reshape(n, 3, 10))
    return torch.cat(out).numpy()


def _kl_to_uniform(labels: np.ndarray) -> float:
    q = np.bincount(labels, minlength=10) / len(labels)
    q = q[q > 0]
    return float(np.sum(q * np.log(q * 10)))


def summary(p: np.ndarray) -> dict:
    """Digit frequencies (mean over channels), imbalance, confidence and the confident samples' imbalance."""
    labels, top = p.argmax(2), p.max(2)
    confident = top >= CONFIDENT
    return {
        "freq": np.mean([np.bincount(labels[:, c], minlength=10) / len(labels) for c in range(3)], axis=0),
        "imbalance": sum(_kl_to_uniform(labels[:, c]) for c in range(3)),
        "mean_top": float(top.mean()),
        "unsure": float((top < 0.9).mean()),
        "confident": float(confident.mean()),
        "confident_imbalance": sum(_kl_to_uniform(labels[confident[:, c], c]) for c in range(3)),
    }


def generated(run_dir: str) -> tuple[torch.Tensor, int]:
    """N samples of the run's last checkpoint from its evaluation latents, and the checkpoint's step."""
    run = load_run(run_dir)
    setup = run.setup
    if tuple(setup.dataset.shape) != (3, 28, 28):
        raise SystemExit(f"{run_dir!r} is not a Stacked-MNIST run (data shape {tuple(setup.dataset.shape)})")
    z = eval_latents(setup.seeds, setup.latent_dim, N)
    g = run.sampler.eval()
    with torch.no_grad():
        return torch.cat([g(b) for b in z.split(4096)]), run.step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", metavar="RUN", help="Stacked-MNIST run folders")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--write", action="store_true", help="rewrite the section stacked_digits of docs/BENCHMARKS.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _report import write_section

    classifier, _ = load_shipped_classifier("mnist")
    real = get_dataset("stacked-mnist").sample(N, generator=torch.Generator().manual_seed(0))
    rows = [("real training triples (seed 0)", summary(channel_probabilities(real, classifier)))]
    for run_dir in args.runs:
        images, step = generated(run_dir)
        rows.append((f"`{Path(run_dir).name}`, step {step}", summary(channel_probabilities(images, classifier))))
        print(rows[-1][0], {k: v for k, v in rows[-1][1].items() if k != "freq"}, flush=True)
    lines = [
        "    python benchmarks/stacked_digits.py " + " ".join(f"RUN{i + 1}" if len(args.runs) > 1 else "RUN"
                                                       for i in range(len(args.runs))) + " --write",
        "",
        f"{N} samples per row (a run: its evaluation latents), each channel labelled by the shipped MNIST classifier. "
        "Digit frequencies in % (mean over the three channels); 'imbalance': sum_c KL(q_c ‖ U_10); 'mean p_max': "
        "the classifier's mean max_y p(y|x) over channel images; 'p_max < 0.9': their share; 'confident': the share "
        f"with p_max >= {CONFIDENT} and the imbalance counted over those only.",
        "",
        "| sampler | " + " | ".join(str(d) for d in range(10)) + " | imbalance | mean p_max | p_max < 0.9 | confident "
        "| their imbalance |",
        "| --- | " + " | ".join("---:" for _ in range(10)) + " | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, s in rows:
        lines.append(f"| {name} | " + " | ".join(f"{100 * f:.1f}" for f in s["freq"])
                     + f" | {s['imbalance']:.3f} | {s['mean_top']:.3f} | {100 * s['unsure']:.1f} % | "
                       f"{100 * s['confident']:.1f} % | {s['confident_imbalance']:.3f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        write_section("stacked_digits", text)


if __name__ == "__main__":
    main()
