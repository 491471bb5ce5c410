"""`ganlab eval SOURCE [SOURCE2]`: FID, KID, precision/recall, density/coverage and IS.

SOURCE is an image folder, an .npz/.npy of images or features, a statistics .npz (from
--save-stats or pytorch-fid), a ganlab run folder, `digits[:train|:test]` or `toy:NAME`.

* Two sources: the first is the reference (real data); prints FID, KID, precision/recall,
  density/coverage (when both sides have features) and the second source's Inception Score (when
  the extractor is a classifier), with the protocol (counts, extractor, weight hash).
* One run folder: prints the run's own evaluation (mode metrics for toy data).
* One other source: its sample count, feature width and (classifier extractors) Inception Score;
  with --save-stats PATH its reference statistics are written for later comparisons.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ganlab.metrics.features import EXTRACTOR_NAMES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sources", nargs="+", metavar="SOURCE", help="one or two sources (first = reference)")
    parser.add_argument(
        "--extractor", default="auto", choices=("auto", *EXTRACTOR_NAMES),
        help="feature network; auto: identity for vectors, digits for grey 8x8 images, inception-v3 otherwise",
    )
    parser.add_argument("--inception-weights", default=None,
                        help="path to pt_inception-2015-12-05-6726825d.pth (or set GANLAB_INCEPTION_WEIGHTS)")
    parser.add_argument("--inception-sha256", default=None,
                        help="expected SHA-256 (or a prefix of >= 8 hex digits) of the Inception weight file; "
                             "the default accepts only the reference file (hash 6726825d...)")
    parser.add_argument("--classifier-weights", default=None, help="weights from `ganlab classifier` (--extractor classifier)")
    parser.add_argument("--resize", default="bilinear", choices=("bilinear", "tf1"),
                        help="Inception resize to 299x299: bilinear (pytorch-fid, default) or tf1 (torch-fidelity)")
    parser.add_argument("--num-samples", type=int, default=None,
                        help="first N samples of file sources; samples drawn from runs/toy data (default 10000)")
    parser.add_argument("--batch-size", type=int, default=None, help="batch size (default 50 Inception, 128 classifiers, 4096 identity)")
    parser.add_argument("--max-features", type=int, default=10_000,
                        help="features per side for KID and precision/recall (seeded random subset; default 10000)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (default: cuda when available)")
    parser.add_argument("--seed", type=int, default=0, help="seed of sampling and subsets (default 0)")
    parser.add_argument("--json", dest="json_path", default=None, help="also write the result as JSON here")
    parser.add_argument("--save-stats", default=None, help="write the first source's statistics to this .npz")
    parser.add_argument("--cache-dir", default=None, help="statistics cache (default $GANLAB_CACHE or ~/.cache/ganlab)")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the statistics cache")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _device(name: str) -> str:
    import torch

    from ganlab.build import resolve_device

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    resolve_device(name, what="--device")
    return name


def _is_run(spec: str) -> bool:
    p = Path(spec)
    return p.is_dir() and (p / "config.toml").is_file()


def _write_json(path: str, payload: dict) -> None:
    """Write `payload` to `path` atomically: a failed write (a full disk) leaves any previous file whole."""
    from ganlab.files import atomic_write

    text = json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n"
    if Path(path).is_dir():
        raise ValueError(f"--json {path!r} is a folder; name a file")
    atomic_write(path, lambda tmp: tmp.write_text(text))


def run(args: argparse.Namespace) -> int:
    from ganlab.evaluate import evaluate_sources

    if len(args.sources) > 2:
        raise ValueError(f"eval takes one or two sources, got {len(args.sources)}: {args.sources}")
    for name, value in (("--num-samples", args.num_samples), ("--batch-size", args.batch_size)):
        if value is not None and value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if args.max_features < 2:
        raise ValueError(f"--max-features must be >= 2, got {args.max_features}")

    if len(args.sources) == 1 and _is_run(args.sources[0]) and args.save_stats is None:
        from ganlab.runs import evaluate_run

        summary = evaluate_run(args.sources[0], n=args.num_samples or 2500)
        print(f"run {args.sources[0]}:")
        for key, value in summary.items():
            print(f"  {key:<20s}{value}")
        if args.json_path:
            _write_json(args.json_path, {"run": args.sources[0], "evaluation": summary})
        return 0

    result, ext = evaluate_sources(
        args.sources[0],
        args.sources[1] if len(args.sources) == 2 else None,
        extractor=args.extractor,
        inception_weights=args.inception_weights,
        inception_sha256=args.inception_sha256,
        classifier_weights=args.classifier_weights,
        resize=args.resize,
        num_samples=args.num_samples,
        batch_size=args.batch_size,
        max_features=args.max_features,
        device=_device(args.device),
        seed=args.seed,
        cache_dir=args.cache_dir,
        use_cache=not args.no_cache,
        save_stats_path=args.save_stats,
        progress=not args.no_progress,
    )
    sha = ext.weights_sha256[:12] + "..." if ext.weights_sha256 else "none"
    if isinstance(result, dict):
        print(f"{args.sources[0]}: n = {result['n']}, feature dim = {result['dim']}, "
              f"extractor {ext.name} (weights {sha})")
        if "inception_score" in result:
            s = result["inception_score"]
            print(f"  {'IS':<20s}{s['mean']:.6g} ± {s['std']:.2g} ({s['splits']} splits)")
        payload = result
    else:
        p = result.protocol
        print(f"{args.sources[0]} (n = {p['first']['n']}, {p['first']['origin']})  vs  "
              f"{args.sources[1]} (n = {p['second']['n']}, {p['second']['origin']})")
        print(f"extractor {ext.name} (weights {sha}), FID path {p['fid']['path']}")
        print(result.table())
        for what, why in p["skipped"].items():
            print(f"  (no {what}: {why})")
        for warning in p.get("warnings", ()):
            print(f"ganlab eval: warning: {warning}", file=sys.stderr)
        payload = result.to_dict()
    if args.save_stats:
        print(f"wrote statistics of {args.sources[0]} to {args.save_stats}")
    if args.json_path:
        _write_json(args.json_path, payload)
    return 0
