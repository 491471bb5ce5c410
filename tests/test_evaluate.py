"""The evaluation pipeline end to end on small data: sources -> features -> statistics -> metrics.

Reference values are computed in this file independently of ganlab's metric code: FID with
scipy.linalg.sqrtm on np.cov statistics (the TTUR formula), closed forms for Gaussians.
"""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
import scipy.linalg
import torch

from ganlab.data.images import load_digits_split
from ganlab.evaluate import (
    compute_source_stats,
    evaluate_sources,
    load_stats,
    open_source,
    save_stats,
)
from ganlab.metrics.features import get_extractor


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """No test reads or writes the user's ~/.cache/ganlab."""
    monkeypatch.setenv("GANLAB_CACHE", str(tmp_path / "default_cache"))


def _fid_reference(x1: np.ndarray, x2: np.ndarray) -> float:
    """FID as Heusel et al.'s TTUR code computes it: np.cov (ddof 1) and sqrtm of the product."""
    mu1, mu2 = x1.mean(0), x2.mean(0)
    s1, s2 = np.cov(x1, rowvar=False), np.cov(x2, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


@pytest.fixture(scope="module")
def digits_features():
    ext = get_extractor("digits")
    x_train, _ = load_digits_split("train")
    x_test, y_test = load_digits_split("test")
    f_train, _ = ext.features_and_logits(x_train)
    f_test, l_test = ext.features_and_logits(x_test)
    return f_train, f_test, l_test, y_test.numpy()


def test_digits_train_vs_test_half(digits_features):
    f_train, f_test, l_test, y_test = digits_features
    result, ext = evaluate_sources("digits:train", "digits:test", use_cache=False)
    assert ext.name == "digits"
    fid_ref = _fid_reference(f_train, f_test)
    assert result.fid == pytest.approx(fid_ref, rel=1e-6, abs=1e-9)
    assert result.fid < 0.2
    # IS: with a 98 %-accurate classifier on balanced classes, exp(H(y) - H(y|x)) is close to the effective
    # number of classes exp(H(labels)) (~10), never above the number of classes
    p_y = np.bincount(y_test, minlength=10) / len(y_test)
    effective_classes = float(np.exp(-(p_y * np.log(p_y)).sum()))
    assert effective_classes == pytest.approx(10.0, abs=0.01)
    assert 8.5 < result.is_mean <= 10.0
    assert abs(result.is_mean - effective_classes) < 1.0
    # KID of two halves of one distribution is ~0 (unbiased estimator); precision/recall high
    assert abs(result.kid_mean) < 0.02
    assert result.precision > 0.8 and result.recall > 0.8 and result.coverage > 0.9
    p = result.protocol
    assert p["first"]["n"] == 898 and p["second"]["n"] == 899
    assert p["extractor"]["extractor"] == "digits" and len(p["extractor"]["weights_sha256"]) == 64
    assert p["fid"]["path"] == "eigh" and p["skipped"] == {}


def test_digits_vs_noise_is_far(tmp_path, digits_features):
    rng = np.random.default_rng(0)
    # 898 per side: KID's subsets are then the whole sets (one MMD^2 instead of 100), which keeps this fast
    np.savez(tmp_path / "noise.npz", images=rng.integers(0, 256, size=(898, 8, 8, 1), dtype=np.uint8))
    far, _ = evaluate_sources("digits:test", str(tmp_path / "noise.npz"), num_samples=898, use_cache=False)
    near, _ = evaluate_sources("digits:train", "digits:test", num_samples=898, use_cache=False)
    assert far.fid > 50 * near.fid and far.fid > 2.0
    assert far.precision < 0.5 and far.kid_mean > 10 * abs(near.kid_mean)
    assert far.is_mean < 6.0  # noise is not confidently any digit


def test_npz_features_round_trip_and_closed_form(tmp_path):
    rng = np.random.default_rng(1)
    x1 = rng.standard_normal((4000, 3))
    shift = np.array([1.0, -2.0, 0.5])
    x2 = rng.standard_normal((3000, 3)) * 2.0 + shift  # N(shift, 4 I)
    np.savez(tmp_path / "a.npz", features=x1)
    np.savez(tmp_path / "b.npz", features=x2)
    result, ext = evaluate_sources(str(tmp_path / "a.npz"), str(tmp_path / "b.npz"), use_cache=False,
                                   batch_size=333, max_features=500)
    assert ext.name == "identity"
    # the pipeline equals the TTUR formula on the very same features
    assert result.fid == pytest.approx(_fid_reference(x1, x2), rel=1e-9, abs=1e-9)
    # and the population value: ||shift||^2 + d (1 + 4 - 2 * 2) = 5.25 + 3 (statistical tolerance)
    assert result.fid == pytest.approx(8.25, abs=0.25)
    assert result.protocol["first"]["features_kept"] == 500 and result.protocol["first"]["n"] == 4000
    assert result.is_mean is None and "inception_score" in result.protocol["skipped"]


def test_streamed_statistics_equal_numpy(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((257, 4)) * [1.0, 10.0, 0.1, 3.0] + 100.0
    np.savez(tmp_path / "x.npz", features=x)
    src = open_source(str(tmp_path / "x.npz"))
    for bs in (1, 10, 1000):
        stats = compute_source_stats(src, get_extractor("identity"), batch_size=bs, max_features=50, seed=3)
        np.testing.assert_allclose(stats.mu, x.mean(0), atol=1e-10, rtol=0)
        np.testing.assert_allclose(stats.sigma, np.cov(x, rowvar=False), atol=1e-9, rtol=1e-12)
        assert stats.n == 257 and stats.features.shape == (50, 4)
        # the kept rows are rows of x, in order, the same for every batch size
        rows = [int(np.flatnonzero((x == r).all(1))[0]) for r in stats.features]
        assert rows == sorted(rows)
        if bs == 1:
            first_rows = rows
        assert rows == first_rows


def test_stats_file_round_trip_equals_direct(tmp_path):
    rng = np.random.default_rng(3)
    np.savez(tmp_path / "a.npz", features=rng.standard_normal((400, 5)))
    np.savez(tmp_path / "b.npz", features=rng.standard_normal((400, 5)) + 0.3)
    direct, _ = evaluate_sources(str(tmp_path / "a.npz"), str(tmp_path / "b.npz"), use_cache=False,
                                 save_stats_path=tmp_path / "a_stats.npz")
    loaded = load_stats(tmp_path / "a_stats.npz")
    assert loaded.n == 400 and loaded.extractor == "identity" and loaded.features is None
    via_stats, _ = evaluate_sources(str(tmp_path / "a_stats.npz"), str(tmp_path / "b.npz"), use_cache=False)
    assert via_stats.fid == pytest.approx(direct.fid, abs=1e-12)
    assert via_stats.protocol["first"]["origin"] == "statistics file"
    assert via_stats.kid_mean is None and "kid, precision/recall, density/coverage" in via_stats.protocol["skipped"]


def test_pytorch_fid_style_stats_file_is_read(tmp_path):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((300, 2))
    np.savez(tmp_path / "ref.npz", mu=x.mean(0), sigma=np.cov(x, rowvar=False))  # only mu and sigma
    np.savez(tmp_path / "x.npz", features=x)
    result, _ = evaluate_sources(str(tmp_path / "ref.npz"), str(tmp_path / "x.npz"), extractor="identity",
                                 use_cache=False)
    assert result.fid == pytest.approx(0.0, abs=1e-10)


def test_cache_hit_gives_identical_numbers(tmp_path):
    rng = np.random.default_rng(5)
    np.savez(tmp_path / "a.npz", features=rng.standard_normal((300, 3)))
    np.savez(tmp_path / "b.npz", features=rng.standard_normal((300, 3)) * 1.5)
    cache = tmp_path / "cache"
    first, _ = evaluate_sources(str(tmp_path / "a.npz"), str(tmp_path / "b.npz"), cache_dir=cache)
    files = list(cache.glob("stats-*.npz"))
    assert len(files) == 1 and first.protocol["first"]["origin"] == "computed"
    second, _ = evaluate_sources(str(tmp_path / "a.npz"), str(tmp_path / "b.npz"), cache_dir=cache)
    assert second.protocol["first"]["origin"] == "cache"
    for name in ("fid", "kid_mean", "kid_std", "precision", "recall", "density", "coverage"):
        assert getattr(second, name) == getattr(first, name), name
    # a changed source misses the cache
    np.savez(tmp_path / "a.npz", features=rng.standard_normal((301, 3)))
    third, _ = evaluate_sources(str(tmp_path / "a.npz"), str(tmp_path / "b.npz"), cache_dir=cache)
    assert third.protocol["first"]["origin"] == "computed" and third.fid != first.fid
    assert len(list(cache.glob("stats-*.npz"))) == 2


def test_cache_dir_defaults_to_env(tmp_path, monkeypatch):
    monkeypatch.setenv("GANLAB_CACHE", str(tmp_path / "envcache"))
    np.savez(tmp_path / "a.npz", features=np.random.default_rng(6).standard_normal((20, 2)))
    evaluate_sources(str(tmp_path / "a.npz"), "toy:ring", num_samples=20)
    assert len(list((tmp_path / "envcache").glob("stats-*.npz"))) == 1


def test_toy_sources_and_seeds():
    result, ext = evaluate_sources("toy:ring", "toy:ring", num_samples=1000, use_cache=False)
    assert ext.name == "identity"
    assert 0.0 < result.fid < 0.01  # two independent draws (seeds 0 and 1) of one distribution
    assert result.protocol["first"]["seed"] == 0 and result.protocol["second"]["seed"] == 1


def test_mismatched_dimensions_are_refused(tmp_path):
    np.savez(tmp_path / "a.npz", features=np.zeros((10, 2)) + np.arange(10)[:, None])
    np.savez(tmp_path / "b.npz", features=np.zeros((10, 3)) + np.arange(10)[:, None])
    with pytest.raises(ValueError, match="dimension"):
        evaluate_sources(str(tmp_path / "a.npz"), str(tmp_path / "b.npz"), use_cache=False)


def test_stats_from_another_extractor_are_refused(tmp_path):
    stats = compute_source_stats(open_source("digits:test"), get_extractor("digits"))
    save_stats(stats, tmp_path / "digits_stats.npz")
    np.savez(tmp_path / "f.npz", features=np.random.default_rng(7).standard_normal((50, 64)))
    with pytest.raises(ValueError, match="extractor 'digits', not 'identity'"):
        evaluate_sources(str(tmp_path / "digits_stats.npz"), str(tmp_path / "f.npz"), extractor="identity",
                         use_cache=False)


def test_feature_source_with_image_extractor_is_refused(tmp_path):
    np.savez(tmp_path / "f.npz", features=np.zeros((10, 64)))
    with pytest.raises(ValueError, match="--extractor identity"):
        evaluate_sources("digits:test", str(tmp_path / "f.npz"), extractor="digits", use_cache=False)


def test_image_folder_source(tmp_path):
    from PIL import Image

    x_test, _ = load_digits_split("test")
    folder = tmp_path / "imgs"
    folder.mkdir()
    arr = (x_test[:60, 0].numpy() * 255).round().astype(np.uint8)
    for i, a in enumerate(arr):
        Image.fromarray(a, mode="L").save(folder / f"{i:03d}.png")
    np.savez(tmp_path / "same.npz", images=arr)
    a, _ = evaluate_sources(str(folder), str(tmp_path / "same.npz"), use_cache=False)
    assert a.fid == pytest.approx(0.0, abs=1e-8)  # same pixels through two readers
    assert a.precision == 1.0 and a.recall == 1.0


def test_run_folder_is_sampled_through_the_sampling_api(tmp_path, monkeypatch):
    """A run folder (config.toml) is sampled with ganlab.sampling.sample_from_run(run_dir, n, seed=...)."""
    calls = []

    def sample_from_run(run_dir, n, *, seed=0):
        calls.append((str(run_dir), n, seed))
        return torch.randn(n, 2, generator=torch.Generator().manual_seed(seed)) * 0.5

    fake = types.ModuleType("ganlab.sampling")
    fake.sample_from_run = sample_from_run
    monkeypatch.setitem(sys.modules, "ganlab.sampling", fake)
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.toml").write_text("recipe = 'wgan-gp'\n")
    rng = np.random.default_rng(8)
    np.savez(tmp_path / "real.npz", features=rng.standard_normal((1000, 2)) * 0.5)
    result, _ = evaluate_sources(str(tmp_path / "real.npz"), str(run), num_samples=1000, use_cache=False)
    assert calls == [(str(run), 1000, 1)]
    assert result.fid < 0.02
    assert result.protocol["second"]["source"].startswith("run ")


def test_one_source_summary_has_inception_score():
    summary, _ = evaluate_sources("digits:test", use_cache=False)
    assert summary["n"] == 899 and summary["dim"] == 64
    assert 8.5 < summary["inception_score"]["mean"] <= 10.0


def test_bad_sources(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        open_source(str(tmp_path / "nothing"))
    with pytest.raises(ValueError, match="fewer than --num-samples"):
        open_source("digits:test", num_samples=5000)
    with pytest.raises(ValueError):
        open_source("toy:no-such-dataset")
