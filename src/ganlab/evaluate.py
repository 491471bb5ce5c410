"""Evaluation pipeline: sources -> features -> statistics -> metrics, streamed in batches, cached.

A *source* is anything that yields samples: an image folder, an ``.npz``/``.npy`` array of images
or features, a reference-statistics ``.npz`` (mu, sigma, n, extractor, weight hash), a ganlab run
folder (its generator is sampled), the bundled digits (``digits``, ``digits:train``,
``digits:test``) or a toy distribution (``toy:ring``, ``toy:grid``, ...). Every source is read in
batches; each batch goes through the feature extractor (``ganlab.metrics.features``) and into

* the streaming mean / covariance of all N features (``ganlab.metrics.fid.StreamingStatistics``):
  FID uses every sample and memory stays O(D^2);
* a seeded random subset of at most ``max_features`` feature rows (all rows when N is smaller),
  for KID, precision/recall and density/coverage, which need samples, not moments;
* the logits of the second (generated) source, for the Inception Score.

Comparing two sources gives FID = ||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1^{1/2} S2 S1^{1/2})^{1/2})
(lecture 003_74d7f85fefbfef05.txt, slide "Frechet Inception Distance (FID)"), KID, improved
precision/recall, density/coverage, and IS = exp(E_x KL(p(y|x) || p(y))) of the second source
(lecture 000_b0081a5cac0268ab.txt, slide "Inception Score"), each from ``ganlab.metrics``.
Every result carries its protocol: sample counts, extractor and weight hash, where each side's
statistics came from (computed, cache, statistics file) and which FID path ran, and ``warnings``
(a side whose features are constant, tr(S) ~ 0, which ``ganlab eval`` prints on stderr).

The first source is the reference. Its statistics and feature subset are cached, keyed by the
source (absolute path, size, modification time), the extractor, its weight hash, N, the subset
size and seed, and the preprocessing; the cache lives in $GANLAB_CACHE or ~/.cache/ganlab.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from ganlab.data.images import ArraySource, ImageFolder, load_array_file, load_digits_split
from ganlab.files import atomic_write, open_npz
from ganlab.metrics.features import EXTRACTOR_NAMES, FeatureExtractor, get_extractor

__all__ = [
    "Source",
    "SourceStats",
    "Evaluation",
    "open_source",
    "choose_extractor",
    "compute_source_stats",
    "save_stats",
    "load_stats",
    "compare",
    "constant_feature_warnings",
    "default_cache_dir",
]

STATS_FORMAT = "ganlab-stats-v1"
DEFAULT_GENERATED_SAMPLES = 10_000
DEFAULT_MAX_FEATURES = 10_000


# --------------------------------------------------------------------------------------------
# sources
# --------------------------------------------------------------------------------------------


@dataclass
class Source:
    """Where samples come from. ``kind``: "images" | "features" | "stats".

    ``data`` serves batches (``ArraySource`` or ``ImageFolder``) unless kind is "stats";
    ``n`` is the number of samples used; ``fingerprint`` (file-backed sources only) makes the
    cache key; ``info`` goes into the protocol.
    """

    spec: str
    kind: str
    n: int
    data: Any = None
    stats: "SourceStats | None" = None
    fingerprint: dict | None = None
    info: dict = field(default_factory=dict)

    def iter_batches(self, batch_size: int) -> Iterator[torch.Tensor]:
        if self.data is None:
            raise ValueError(f"source {self.spec!r} holds statistics, not samples")
        return self.data.iter_batches(batch_size, limit=self.n)

    @property
    def item_shape(self) -> tuple[int, ...] | None:
        return None if self.data is None else tuple(self.data.shape)


def _file_fingerprint(p: Path) -> dict:
    st = p.stat()
    return {"path": str(p.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _folder_fingerprint(folder: ImageFolder) -> dict:
    h = hashlib.sha256()
    total, newest = 0, 0
    for f in folder.files:
        st = f.stat()
        total += st.st_size
        newest = max(newest, st.st_mtime_ns)
        h.update(f"{f.relative_to(folder.root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return {"path": str(folder.root.resolve()), "files": len(folder.files), "size": total,
            "mtime_ns": newest, "listing_sha256": h.hexdigest()}


def _limit(n_available: int, num_samples: int | None, spec: str) -> int:
    if num_samples is None:
        return n_available
    if num_samples < 2:
        raise ValueError(f"--num-samples must be >= 2, got {num_samples}")
    if num_samples > n_available:
        raise ValueError(f"source {spec!r} has {n_available} samples, fewer than --num-samples {num_samples}")
    return num_samples


def _generated_tensor_source(spec: str, samples: torch.Tensor, info: dict) -> Source:
    """Samples drawn in memory (toy data, a run's generator) as a Source; images in [-1, 1] are mapped to [0, 1]."""
    x = samples.detach().cpu()
    if x.ndim == 4:
        lo, hi = float(x.min()), float(x.max())
        if lo < 0.0 and lo >= -1.0 - 1e-6 and hi <= 1.0 + 1e-6:
            x = ((x + 1.0) / 2.0).clamp_(0.0, 1.0)
            info["pixel_range"] = "generator output in [-1, 1], mapped by (x + 1) / 2"
        data = ArraySource(x, layout="NCHW", name=spec)
        return Source(spec, "images", len(x), data=data, info=info)
    if x.ndim == 1:
        x = x[:, None]
    data = ArraySource(x.reshape(len(x), -1), layout="features", name=spec)
    return Source(spec, "features", len(x), data=data, info=info)


def open_source(spec: str, *, num_samples: int | None = None, seed: int = 0) -> Source:
    """Resolve a source string (see the module docstring) into a :class:`Source`.

    ``num_samples``: use the first N samples of a file source (all if None; fewer available is an
    error), or draw N from a run or toy source (default 10 000). ``seed`` seeds toy and run draws.
    """
    if spec in ("digits", "digits:all", "digits:train", "digits:test"):
        split = spec.partition(":")[2] or "all"
        images, _ = load_digits_split(split)
        n = _limit(len(images), num_samples, spec)
        return Source(spec, "images", n, data=ArraySource(images, layout="NCHW", name=spec),
                      info={"source": spec, "split": "stratified 50/50, seed 0 (ganlab.data.images.digits_split)"})
    if spec.startswith("toy:"):
        from ganlab.data.toy import get_toy_dataset

        name = spec[4:]
        n = num_samples or DEFAULT_GENERATED_SAMPLES
        ds = get_toy_dataset(name)
        samples = ds.sample(n, generator=torch.Generator().manual_seed(seed))
        return _generated_tensor_source(spec, samples, {"source": spec, "drawn": n, "seed": seed})
    p = Path(spec).expanduser()
    if not p.exists():
        raise FileNotFoundError(
            f"source {spec!r} does not exist (expected an image folder, .npz/.npy file, run folder, "
            "digits[:train|:test] or toy:NAME)"
        )
    if p.is_dir():
        if (p / "config.toml").is_file():
            from ganlab.sampling import sample_from_run

            n = num_samples or DEFAULT_GENERATED_SAMPLES
            samples = sample_from_run(p, n, seed=seed)
            return _generated_tensor_source(spec, samples, {"source": f"run {p}", "drawn": n, "seed": seed})
        folder = ImageFolder(p)
        n = _limit(len(folder), num_samples, spec)
        return Source(spec, "images", n, data=folder, fingerprint=_folder_fingerprint(folder),
                      info={"source": f"image folder {p}", "files": len(folder), "size": list(folder.shape)})
    if p.suffix == ".npz":
        with open_npz(p, "array file") as z:
            is_stats = "mu" in z.files and "sigma" in z.files
        if is_stats:
            stats = load_stats(p)
            return Source(spec, "stats", stats.n or 0, stats=stats, info={"source": f"statistics file {p}"})
    array, key = load_array_file(p)
    data = ArraySource(array, name=spec)
    n = _limit(len(data), num_samples, spec)
    return Source(spec, data.kind, n, data=data, fingerprint=_file_fingerprint(p),
                  info={"source": f"array file {p}", "key": key, "layout": data.layout, "shape": list(array.shape)})


def choose_extractor(sources: list[Source]) -> str:
    """The extractor ``--extractor auto`` picks: a statistics file's own; identity for feature vectors;
    digits for grey 8x8 images; inception-v3 for other images."""
    for s in sources:
        if s.kind == "stats" and s.stats.extractor in EXTRACTOR_NAMES:
            return s.stats.extractor
    kinds = {s.kind for s in sources if s.kind != "stats"}
    if kinds == {"features"}:
        return "identity"
    shapes = {s.item_shape for s in sources if s.kind == "images"}
    if shapes == {(1, 8, 8)}:
        return "digits"
    if not kinds:
        raise ValueError("only statistics files were given and they do not name their extractor: pass --extractor")
    return "inception-v3"


# --------------------------------------------------------------------------------------------
# statistics of one source
# --------------------------------------------------------------------------------------------


@dataclass
class SourceStats:
    """What a source contributes: mu (D,), sigma (D, D), n, a feature subset (M, D), logits (N, C).

    ``features`` / ``logits`` are None when not kept (statistics files keep neither).
    ``origin``: "computed", "cache" or "statistics file".
    """

    mu: np.ndarray
    sigma: np.ndarray
    n: int | None
    extractor: str | None
    weights_sha256: str | None
    features: np.ndarray | None = None
    logits: np.ndarray | None = None
    origin: str = "computed"
    protocol: dict = field(default_factory=dict)

    @property
    def dim(self) -> int:
        return int(self.mu.shape[0])


def _check_compatible(source: Source, extractor: FeatureExtractor) -> None:
    if source.kind == "features" and extractor.input_kind == "images":
        raise ValueError(
            f"source {source.spec!r} holds feature vectors of shape {source.item_shape}, but the "
            f"{extractor.name!r} extractor takes images: use --extractor identity"
        )


def _subset_indices(n: int, max_features: int, seed: int) -> np.ndarray | None:
    """Sorted indices of the kept feature rows, or None for all rows."""
    if n <= max_features:
        return None
    return np.sort(np.random.default_rng(seed).choice(n, size=max_features, replace=False))


def default_cache_dir() -> Path:
    """$GANLAB_CACHE, else ~/.cache/ganlab."""
    env = os.environ.get("GANLAB_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "ganlab"


def _cache_path(cache_dir: Path, source: Source, extractor: FeatureExtractor, key_extra: dict) -> Path:
    key = {
        "format": STATS_FORMAT,
        "source": source.fingerprint,
        "n": source.n,
        "extractor": extractor.describe(),
        **key_extra,
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]
    return cache_dir / f"stats-{digest}.npz"


def compute_source_stats(
    source: Source,
    extractor: FeatureExtractor,
    *,
    batch_size: int = 50,
    max_features: int = DEFAULT_MAX_FEATURES,
    keep_logits: bool = False,
    seed: int = 0,
    cache_dir: Path | None = None,
    progress: bool = False,
) -> SourceStats:
    """Stream a source through an extractor: statistics of all N features, a feature subset, logits.

    ``max_features``: rows kept for KID / precision-recall (a seeded random subset when N is larger).
    ``keep_logits``: keep all N logits (for the Inception Score) when the extractor has them.
    ``cache_dir``: read/write the result there when the source is file-backed (logits not cached).
    """
    from ganlab.metrics.fid import StreamingStatistics

    if source.kind == "stats":
        return source.stats
    if batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {batch_size}")
    if max_features < 2:
        raise ValueError(f"max_features must be >= 2, got {max_features}")
    _check_compatible(source, extractor)
    keep_logits = keep_logits and extractor.num_classes is not None
    cache_file = None
    if cache_dir is not None and source.fingerprint is not None and not keep_logits:
        extra = {"max_features": max_features, "seed": seed}
        cache_file = _cache_path(Path(cache_dir), source, extractor, extra)
        if cache_file.is_file():
            stats = load_stats(cache_file)
            stats.origin = "cache"
            stats.protocol["cache_file"] = str(cache_file)
            return stats

    from tqdm.auto import tqdm

    keep = _subset_indices(source.n, max_features, seed)
    acc = StreamingStatistics()
    kept: list[np.ndarray] = []
    logits: list[np.ndarray] = []
    start = 0
    t0 = time.perf_counter()
    with tqdm(total=source.n, desc=f"features {Path(source.spec).name or source.spec}", unit="img",
              disable=not progress, leave=False) as bar:
        for batch in source.iter_batches(batch_size):
            feats, lg = extractor.features_and_logits(batch)
            acc.update(feats)
            stop = start + len(feats)
            if keep is None:
                kept.append(feats)
            else:
                lo, hi = np.searchsorted(keep, [start, stop])
                kept.append(feats[keep[lo:hi] - start])
            if keep_logits:
                logits.append(lg.astype(np.float32))
            start = stop
            bar.update(len(feats))
    if start < 2:
        raise ValueError(f"source {source.spec!r} gave {start} samples; statistics need at least 2")
    mu, sigma = acc.compute()
    stats = SourceStats(
        mu=mu,
        sigma=sigma,
        n=start,
        extractor=extractor.name,
        weights_sha256=extractor.weights_sha256,
        features=np.concatenate(kept),
        logits=np.concatenate(logits) if keep_logits else None,
        origin="computed",
        protocol={**source.info, "n": start, "features_kept": int(sum(len(k) for k in kept)),
                  "seconds": round(time.perf_counter() - t0, 3)},
    )
    if cache_file is not None:
        save_stats(stats, cache_file, include_features=True)
        stats.protocol["cache_file"] = str(cache_file)
    return stats


def save_stats(stats: SourceStats, path: str | os.PathLike, *, include_features: bool = False) -> Path:
    """Write reference statistics as ``.npz``: mu, sigma, n, extractor, weights_sha256, protocol (JSON).

    ``include_features`` also stores the kept feature subset (the cache does; ``--save-stats`` does
    not, so its files stay pytorch-fid compatible: ``mu`` and ``sigma`` are what that tool reads).
    Written atomically (`ganlab.files.atomic_write`).
    """
    p = Path(path)
    if p.suffix != ".npz":
        raise ValueError(f"statistics are written as .npz, got {str(p)!r}")
    arrays: dict[str, Any] = {
        "format": np.array(STATS_FORMAT),
        "mu": stats.mu,
        "sigma": stats.sigma,
        "n": np.array(-1 if stats.n is None else stats.n, dtype=np.int64),
        "extractor": np.array(stats.extractor or ""),
        "weights_sha256": np.array(stats.weights_sha256 or ""),
        "protocol": np.array(json.dumps(stats.protocol, sort_keys=True, default=str)),
    }
    if include_features and stats.features is not None:
        arrays["features"] = stats.features

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:  # a file object: np.savez would append ".npz" to the temporary name
            np.savez(fh, **arrays)

    return atomic_write(p, write)


def load_stats(path: str | os.PathLike) -> SourceStats:
    """Read a statistics ``.npz`` (ganlab's, or pytorch-fid's with only mu and sigma)."""
    p = Path(path)
    with open_npz(p, "statistics file") as z:
        if "mu" not in z.files or "sigma" not in z.files:
            raise ValueError(f"{str(p)!r} is not a statistics file: it needs arrays 'mu' and 'sigma', has {z.files}")
        mu = np.asarray(z["mu"], dtype=np.float64)
        sigma = np.asarray(z["sigma"], dtype=np.float64)
        n = int(z["n"]) if "n" in z.files else -1
        extractor = str(z["extractor"]) if "extractor" in z.files else ""
        sha = str(z["weights_sha256"]) if "weights_sha256" in z.files else ""
        protocol = json.loads(str(z["protocol"])) if "protocol" in z.files else {}
        features = np.asarray(z["features"], dtype=np.float64) if "features" in z.files else None
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise ValueError(f"{str(p)!r}: mu must be (D,) and sigma (D, D), got {mu.shape} and {sigma.shape}")
    protocol.setdefault("source", f"statistics file {p}")
    return SourceStats(
        mu=mu, sigma=sigma, n=None if n < 0 else n, extractor=extractor or None, weights_sha256=sha or None,
        features=features, origin="statistics file", protocol=protocol,
    )


# --------------------------------------------------------------------------------------------
# comparing two sources
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evaluation:
    """Metrics between a reference (first) and a second source, with the protocol that made them.

    Each metric is None when it could not be computed; ``protocol["skipped"]`` says why.
    """

    fid: float | None
    kid_mean: float | None
    kid_std: float | None
    precision: float | None
    recall: float | None
    density: float | None
    coverage: float | None
    is_mean: float | None
    is_std: float | None
    protocol: dict

    def to_dict(self) -> dict:
        """JSON-ready dict: the metrics and the protocol."""
        d = asdict(self)
        return json.loads(json.dumps(d, default=_json_default))

    def table(self) -> str:
        """A small plain-text table of the metrics that were computed."""
        rows = [("FID", self.fid, None), ("KID", self.kid_mean, self.kid_std),
                ("precision", self.precision, None), ("recall", self.recall, None),
                ("density", self.density, None), ("coverage", self.coverage, None),
                ("IS (second source)", self.is_mean, self.is_std)]
        lines = []
        for name, value, std in rows:
            if value is None:
                continue
            text = f"{value:.6g}" if std is None else f"{value:.6g} ± {std:.2g}"
            lines.append(f"  {name:<20s}{text}")
        return "\n".join(lines)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if hasattr(obj, "as_dict"):
        return obj.as_dict()
    return str(obj)


def _check_pair(a: SourceStats, b: SourceStats, extractor: FeatureExtractor) -> None:
    if a.dim != b.dim:
        raise ValueError(f"feature dimensions differ: {a.dim} (first source) vs {b.dim} (second source)")
    for side, s in (("first", a), ("second", b)):
        if s.origin == "computed":
            continue
        if s.extractor is not None and s.extractor != extractor.name:
            raise ValueError(
                f"the {side} source's statistics were made with extractor {s.extractor!r}, not {extractor.name!r}"
            )
        if s.weights_sha256 and extractor.weights_sha256 and s.weights_sha256 != extractor.weights_sha256:
            raise ValueError(
                f"the {side} source's statistics were made with weights sha256 {s.weights_sha256[:16]}..., "
                f"but the extractor's weights have sha256 {extractor.weights_sha256[:16]}..."
            )
    if extractor.dim is not None and a.dim != extractor.dim:
        raise ValueError(f"statistics have dimension {a.dim}, the {extractor.name!r} extractor gives {extractor.dim}")


def compare(
    ref: SourceStats,
    gen: SourceStats,
    extractor: FeatureExtractor,
    *,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    k_pr: int = 3,
    k_dc: int = 5,
    is_splits: int = 10,
    seed: int = 0,
) -> Evaluation:
    """All metrics between two sources' statistics (see the module docstring); ``ref`` is the real side."""
    from ganlab.metrics import fid_from_stats, inception_score

    _check_pair(ref, gen, extractor)
    skipped: dict[str, str] = {}
    fid = fid_from_stats(ref.mu, ref.sigma, gen.mu, gen.sigma, n1=ref.n, n2=gen.n,
                         extractor=extractor.name, weights_hash=extractor.weights_sha256)
    protocol: dict[str, Any] = {
        "extractor": extractor.describe(),
        "first": {"origin": ref.origin, "n": ref.n, **ref.protocol},
        "second": {"origin": gen.origin, "n": gen.n, **gen.protocol},
        "fid": fid.as_dict(),
    }
    kid_mean = kid_std = precision = recall = density = coverage = None
    if ref.features is None or gen.features is None:
        skipped["kid, precision/recall, density/coverage"] = "a side is given as statistics only (no features)"
    else:
        from ganlab.metrics import density_coverage, kid, precision_recall

        m1, m2 = len(ref.features), len(gen.features)
        tag = {"extractor": extractor.name, "weights_hash": extractor.weights_sha256}
        size = min(kid_subset_size, m1, m2)
        if size >= 2:
            k = kid(ref.features, gen.features, num_subsets=kid_subsets, subset_size=size, seed=seed, **tag)
            kid_mean, kid_std = float(k.mean), float(k.std)
            protocol["kid"] = {key: v for key, v in k.as_dict().items() if key != "values"}
            if size < kid_subset_size:
                protocol["kid"]["notes"] = [*protocol["kid"].get("notes", ()),
                                            f"subset size {size}: fewer features than {kid_subset_size}"]
        else:
            skipped["kid"] = f"needs >= 2 features per side, got {m1} and {m2}"
        if min(m1, m2) > max(k_pr, k_dc):
            pr = precision_recall(ref.features, gen.features, k=k_pr, **tag)
            dc = density_coverage(ref.features, gen.features, k=k_dc, **tag)
            precision, recall = float(pr.precision), float(pr.recall)
            density, coverage = float(dc.density), float(dc.coverage)
            protocol["precision_recall"] = pr.as_dict()
            protocol["density_coverage"] = dc.as_dict()
        else:
            skipped["precision/recall, density/coverage"] = f"need more than {max(k_pr, k_dc)} features per side"
    is_mean = is_std = None
    if gen.logits is not None:
        splits = min(is_splits, len(gen.logits))
        res = inception_score(gen.logits, splits=splits, from_logits=True,
                              extractor=extractor.name, weights_hash=extractor.weights_sha256)
        is_mean, is_std = float(res.mean), float(res.std)
        protocol["inception_score"] = res.as_dict()
    elif extractor.num_classes is None:
        skipped["inception_score"] = f"the {extractor.name!r} extractor has no classifier"
    else:
        skipped["inception_score"] = "the second source is given as statistics only (no logits)"
    protocol["skipped"] = skipped
    protocol["warnings"] = constant_feature_warnings(ref, gen, fid)
    return Evaluation(float(fid), kid_mean, kid_std, precision, recall, density, coverage, is_mean, is_std,
                      protocol)


#: A side's features count as constant when tr(S) <= this times the largest of tr(S1), tr(S2), ||mu1||^2, ||mu2||^2.
CONSTANT_FEATURES_RTOL = 1e-8


def constant_feature_warnings(ref: SourceStats, gen: SourceStats, fid: Any) -> list[str]:
    """One warning per side whose features are constant, tr(S) ~ 0 (identical images, a generator collapsed to one
    image): its covariance is the zero matrix, so FID = ||mu1 - mu2||^2 + tr(S_other), a mean term plus the other
    side's spread, with no comparison of the two spreads; ``fid`` is the FIDResult of the pair."""
    traces = [float(np.trace(s.sigma)) for s in (ref, gen)]
    scale = max(*traces, float(ref.mu @ ref.mu), float(gen.mu @ gen.mu))
    warnings = []
    for side, other, tr in (("first", "second", traces[0]), ("second", "first", traces[1])):
        if tr <= CONSTANT_FEATURES_RTOL * scale:
            warnings.append(
                f"the {side} source's features are constant (tr(S) = {tr:.3g}, a zero and so singular covariance: "
                f"identical images, or a generator collapsed to one image): FID {fid.fid:.6g} = mean term "
                f"||mu1 - mu2||^2 {fid.mean_term:.6g} + the {other} source's tr(S) {fid.trace_term:.6g}; it measures "
                f"how far one point lies from the {other} source, not how two distributions differ"
            )
    return warnings


def source_summary(stats: SourceStats, extractor: FeatureExtractor, *, is_splits: int = 10) -> dict:
    """One source on its own: n, dimension, protocol, and its Inception Score when logits were kept."""
    out: dict[str, Any] = {"n": stats.n, "dim": stats.dim, "extractor": extractor.describe(),
                           "origin": stats.origin, "protocol": stats.protocol}
    if stats.logits is not None:
        from ganlab.metrics import inception_score

        res = inception_score(stats.logits, splits=min(is_splits, len(stats.logits)), from_logits=True,
                              extractor=extractor.name, weights_hash=extractor.weights_sha256)
        out["inception_score"] = {"mean": float(res.mean), "std": float(res.std), **res.as_dict()}
    return json.loads(json.dumps(out, default=_json_default))


def evaluate_sources(
    first: str,
    second: str | None = None,
    *,
    extractor: str = "auto",
    inception_weights: str | None = None,
    inception_sha256: str | None = None,
    classifier_weights: str | None = None,
    resize: str = "bilinear",
    num_samples: int | None = None,
    batch_size: int | None = None,
    max_features: int = DEFAULT_MAX_FEATURES,
    device: str = "cpu",
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
    save_stats_path: str | os.PathLike | None = None,
    progress: bool = False,
) -> tuple[Evaluation | dict, FeatureExtractor]:
    """The whole pipeline behind ``ganlab eval``: open sources, pick the extractor, stream, compare.

    Two sources -> :class:`Evaluation`; one source -> :func:`source_summary` dict. Source i
    (0-based) draws toy / run samples with ``seed + i``. ``save_stats_path`` writes the first
    source's statistics.
    """
    sources = [open_source(first, num_samples=num_samples, seed=seed)]
    if second is not None:
        sources.append(open_source(second, num_samples=num_samples, seed=seed + 1))
    name = choose_extractor(sources) if extractor == "auto" else extractor
    ext = get_extractor(name, inception_weights=inception_weights, inception_sha256=inception_sha256,
                        classifier_weights=classifier_weights, resize=resize, device=device, batch_size=batch_size)
    bs = batch_size or ext.batch_size
    cdir = (Path(cache_dir) if cache_dir is not None else default_cache_dir()) if use_cache else None
    ref = compute_source_stats(sources[0], ext, batch_size=bs, max_features=max_features, seed=seed,
                               keep_logits=second is None, cache_dir=cdir, progress=progress)
    ref.protocol.setdefault("extractor_choice", "auto" if extractor == "auto" else "given")
    if save_stats_path is not None:
        if ref.origin == "statistics file":
            raise ValueError("--save-stats: the first source is already a statistics file")
        save_stats(ref, save_stats_path)
    if second is None:
        return source_summary(ref, ext), ext
    gen = compute_source_stats(sources[1], ext, batch_size=bs, max_features=max_features, seed=seed + 1,
                               keep_logits=True, cache_dir=None, progress=progress)
    result = compare(ref, gen, ext, seed=seed)
    result.protocol["extractor_choice"] = "auto" if extractor == "auto" else "given"
    result.protocol["device"] = str(device)
    result.protocol["batch_size"] = bs
    return result, ext
