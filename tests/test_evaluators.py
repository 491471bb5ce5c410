"""Evaluation during training: the evaluator each kind of data gets, and the image scores against closed forms."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from ganlab.build import build, model_family
from ganlab.config import TrainConfig
from ganlab.data import TensorDataset, get_dataset
from ganlab.evaluators import (ImageEvaluator, SampleEvaluator, StackedMNISTEvaluator, ToyEvaluator,
                               make_evaluator)
from ganlab.metrics.classifier import digits_classifier_paths
from ganlab.metrics.features import get_extractor


class Replay(nn.Module):
    """A 'generator' that returns images[z[:, 0]]: fixed images in [-1, 1] addressed by the latent (`_index_latents`),
    however the evaluator splits its latents into forwards."""

    def __init__(self, images: torch.Tensor) -> None:
        super().__init__()
        self.images = images
        self.anchor = nn.Parameter(torch.zeros(()))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.images[z[:, 0].long()] + 0 * self.anchor


def _index_latents(n: int, dim: int = 3) -> torch.Tensor:
    """Latents (n, dim) whose first coordinate is the row's index: Replay(images) then gives images[:n]."""
    return torch.arange(n, dtype=torch.float32)[:, None].expand(-1, dim).contiguous()


class MeanCritic(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w * x.flatten(1).mean(1)


@pytest.fixture(scope="module")
def digits():
    return get_dataset("digits")


@pytest.fixture(scope="module")
def evaluator(digits):
    n = digits.held_out().shape[0]
    return ImageEvaluator(digits, _index_latents(n), seed=0, extractor=get_extractor("digits"))


def _inception_score(logits: np.ndarray, splits: int) -> float:
    """IS = exp(E_x KL(p(y|x) || p(y))) per contiguous split, mean over splits (Salimans et al. 2016)."""
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    scores = []
    n = len(p)
    for i in range(splits):
        q = p[i * n // splits:(i + 1) * n // splits]
        marginal = q.mean(0, keepdims=True)
        scores.append(np.exp(np.mean(np.sum(q * (np.log(q) - np.log(marginal)), 1))))
    return float(np.mean(scores))


def test_the_held_out_images_themselves_score_fid_zero_and_the_is_of_real_digits(digits, evaluator):
    real = digits.held_out()  # [0, 1]
    metrics, samples = evaluator(Replay(real * 2 - 1), MeanCritic(), step=1)
    assert len(real) > 512 and torch.equal(samples, (real * 2 - 1)[:512])  # the first KEPT samples come back
    assert abs(metrics["fid"]) < 1e-6
    # every KID subset is then the whole set (n < 1000) for both sides: MMD_u^2(X, X) =
    # 2 [sum_{i != j} k_ij / (n (n - 1)) - sum_{i, j} k_ij / n^2] with k = (x.y / D + 1)^3, slightly negative
    f = evaluator.real_features
    k = (f @ f.T / f.shape[1] + 1.0) ** 3
    n = len(f)
    off = k.sum() - np.trace(k)
    assert metrics["kid"] == pytest.approx(2 * (off / (n * (n - 1)) - k.sum() / n**2), rel=1e-6)
    with torch.no_grad():
        logits = evaluator.extractor.model(real).double().numpy()
    assert metrics["is"] == pytest.approx(_inception_score(logits, 10), rel=1e-9)
    assert metrics["critic_w"] == pytest.approx(
        float(digits.sample(len(real), generator=torch.Generator().manual_seed(1)).flatten(1).mean(1).mean()
              - (real * 2 - 1).flatten(1).mean(1).mean()), abs=1e-5)


def test_one_repeated_image_has_inception_score_one_and_a_large_fid(digits, evaluator):
    real = digits.held_out()
    one = (real[:1] * 2 - 1).expand(len(real), -1, -1, -1).contiguous()
    metrics, _ = evaluator(Replay(one), MeanCritic(), step=1)
    assert metrics["is"] == pytest.approx(1.0, abs=1e-9)  # p(y|x) = p(y) for every x: KL = 0
    assert metrics["fid"] > 10.0 and metrics["kid"] > 0.1


def test_the_raw_generator_is_scored_beside_the_judged_one(digits, evaluator):
    real = digits.held_out()
    metrics, _ = evaluator(Replay(real * 2 - 1), MeanCritic(), step=1, raw=Replay(-torch.ones_like(real)))
    assert abs(metrics["fid"]) < 1e-6 and metrics["raw_fid"] > 10.0
    assert metrics["raw_is"] == pytest.approx(1.0, abs=1e-9)


class ChannelDigit(nn.Module):
    """A stub digit classifier: a grey image of constant value (d + 0.5) / 10 is digit d (one-hot logits)."""

    def __init__(self) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        digit = (x.flatten(1).mean(1) * 10).floor().clamp(0, 9).long()
        return nn.functional.one_hot(digit, 10).float() + 0 * self.anchor


def _stacked(labels: np.ndarray) -> torch.Tensor:
    """Images (N, 3, 4, 4) in [-1, 1] whose channel c is the constant that ChannelDigit reads as labels[:, c]."""
    unit = (torch.as_tensor(labels, dtype=torch.float32) + 0.5) / 10
    return (unit[:, :, None, None] * 2 - 1).expand(-1, -1, 4, 4).contiguous()


@pytest.mark.parametrize("chunk", [4096, 64])
def test_stacked_mnist_evaluator_counts_modes_and_splits_the_kl(monkeypatch, chunk):
    """The same numbers whether the 300 samples are labelled in one chunk or in chunks of 64 (streaming)."""
    import ganlab.evaluators as evaluators

    monkeypatch.setattr(evaluators, "EVAL_CHUNK", chunk)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, size=(300, 3))
    labels[:, 1] = np.minimum(labels[:, 1], 4)  # G favours digit 4 and never shows 5..9
    raw_labels = np.tile([[1, 2, 3]], (300, 1))
    z = _index_latents(300, 2)
    ev = StackedMNISTEvaluator(TensorDataset(_stacked(labels)), z, seed=0, classifier=ChannelDigit())
    metrics, samples = ev(Replay(_stacked(labels)), MeanCritic(), step=1, raw=Replay(_stacked(raw_labels)))
    # the reference, written here: modes are distinct triples, KL by scipy, the G channel's KL to uniform digits
    _, counts = np.unique(labels, axis=0, return_counts=True)
    q = np.zeros(1000)
    q[: len(counts)] = counts / counts.sum()
    q_g = np.bincount(labels[:, 1], minlength=10) / 300
    assert metrics["modes"] == len(counts) and samples.shape == (300, 3, 4, 4)
    assert metrics["mode_kl"] == pytest.approx(stats.entropy(q, np.full(1000, 1e-3)), abs=1e-12)
    expected_channels = sum(stats.entropy(np.bincount(labels[:, c], minlength=10) / 300, np.full(10, 0.1))
                            for c in range(3))
    assert metrics["mode_kl_channels"] == pytest.approx(expected_channels, abs=1e-12)
    assert metrics["mode_kl_channels"] > stats.entropy(q_g, np.full(10, 0.1)) > 0.4  # G's imbalance dominates
    assert metrics["raw_modes"] == 1 and metrics["raw_mode_kl"] == pytest.approx(np.log(1000), abs=1e-12)
    assert metrics["raw_mode_kl_channels"] == pytest.approx(3 * np.log(10), abs=1e-12)


def test_each_kind_of_data_gets_its_evaluator(digits):
    z = torch.zeros(50, 2)
    assert type(make_evaluator(get_dataset("ring"), z, seed=0)) is ToyEvaluator
    assert type(make_evaluator(digits, z, seed=0)) is ImageEvaluator
    plain = TensorDataset(torch.rand(20, 1, 8, 8))
    assert type(make_evaluator(plain, z, seed=0)) is SampleEvaluator
    assert type(make_evaluator(digits, z, seed=0, features="none")) is SampleEvaluator
    with pytest.raises(ValueError, match="eval_features = 'inception-v3' scores images; data set 'ring' holds vectors"):
        make_evaluator(get_dataset("ring"), z, seed=0, features="inception-v3")
    with pytest.raises(ValueError, match=r"eval_features must be one of \['auto', 'inception-v3', 'classifier', "
                                         r"'none'\], got 'fid'"):
        make_evaluator(digits, z, seed=0, features="fid")
    with pytest.raises(ValueError, match="data set 'tensor' has no held-out images"):
        make_evaluator(plain, z, seed=0, features="classifier", weights=str(digits_classifier_paths()[0]))


def test_a_classifier_file_scores_as_the_shipped_classifier_it_holds(digits, evaluator):
    """eval_features = "classifier" with the shipped digits weights is the "auto" evaluation of digits."""
    real = digits.held_out()
    z = _index_latents(len(real))
    from_file = make_evaluator(digits, z, seed=0, features="classifier", weights=str(digits_classifier_paths()[0]))
    shifted = Replay((real * 2 - 1).roll(1, dims=-1))
    assert from_file.weights_sha256 == evaluator.weights_sha256
    assert from_file(shifted, MeanCritic(), step=3)[0] | {"eval_seconds": 0, "reference_seconds": 0} == \
        evaluator(shifted, MeanCritic(), step=3)[0] | {"eval_seconds": 0, "reference_seconds": 0}


def test_auto_model_family_and_critic_norm(tmp_path):
    images = TrainConfig(data="digits", recipe="wgan-gp", gp_weight=10.0, out=str(tmp_path / "a"), eval_samples=20)
    assert model_family(images, (1, 8, 8)) == "dcgan" and model_family(images, (2,)) == "mlp"
    setup = build(images)
    assert setup.config.model["family"] == "dcgan" and setup.config.model["d_norm"] == "layernorm"
    from ganlab.models import MODELS

    _, critic28 = MODELS["dcgan"].build(MODELS["dcgan"].fields(d_norm=setup.config.model["d_norm"]), (1, 28, 28))
    assert any(isinstance(m, nn.GroupNorm) for m in critic28.modules())  # 8x8 has one stage: no norm layer
    plain = build(TrainConfig(data="digits", loss="ns", gp_weight=0.0, out=str(tmp_path / "b"), eval_samples=20))
    assert plain.config.model["d_norm"] == "none"
    assert not any(isinstance(m, (nn.GroupNorm, nn.BatchNorm2d)) for m in plain.critic.modules())
    assert build(TrainConfig(out=str(tmp_path / "c"), eval_samples=20)).config.model["family"] == "mlp"


def test_a_batch_norm_critic_sees_real_and_fake_in_separate_forwards(tmp_path, monkeypatch):
    from ganlab.data import DATASETS
    from ganlab.distributed import World
    from ganlab.steps import critic_step

    images = torch.rand(64, 1, 16, 16, generator=torch.Generator().manual_seed(3)) * 2 - 1
    monkeypatch.setitem(DATASETS, "tiny16", lambda: TensorDataset(images, name="tiny16"))
    config = TrainConfig(data="tiny16", loss="ns", gp_weight=0.0, model={"family": "dcgan", "d_norm": "batchnorm"},
                         out=str(tmp_path / "r"), eval_samples=20)
    setup = build(config)
    assert setup.critic_batch_norm
    real = setup.dataset.sample(8, generator=torch.Generator().manual_seed(0))
    fake = torch.rand(8, 1, 16, 16) * 2 - 1
    critic = setup.critic
    with torch.no_grad():
        expected_real, expected_fake = critic(real), critic(fake)  # train mode: each batch its own statistics
    out = critic_step(setup, real, fake, World("cpu"))
    torch.testing.assert_close(out.d_real.detach(), expected_real)
    torch.testing.assert_close(out.d_fake.detach(), expected_fake)


def test_the_reference_features_cost_is_reported_once(digits):
    real = digits.held_out()
    ev = ImageEvaluator(digits, _index_latents(len(real)), seed=0, extractor=get_extractor("digits"))
    first, _ = ev(Replay(real * 2 - 1), MeanCritic(), step=1)
    second, _ = ev(Replay(real * 2 - 1), MeanCritic(), step=2)
    assert first["reference_seconds"] == ev.reference_seconds > 0 and first["eval_seconds"] > 0
    assert "reference_seconds" not in second and second["eval_seconds"] > 0


@pytest.mark.parametrize("pack", [1, 3])
def test_scores_in_chunks_equal_the_scores_of_all_samples_at_once(digits, monkeypatch, pack):
    """Streaming: with chunks of 100 rows (9 chunks of the 899 held-out digits) FID, KID, IS and the critic's
    estimate are those of one chunk of all rows, and a packed critic reads the same whole packs. (To float32
    rounding: the classifier reads its input in batches of EVAL_BATCH rows, and a chunk of 100 rows is another
    batch than rows 0-127 of the whole, which moves its outputs by an ulp or so.)"""
    import ganlab.evaluators as evaluators
    from ganlab.models.pack import Packed

    real = digits.held_out()
    z = _index_latents(len(real))
    # training digits shifted one pixel right: in [-1, 1], a distribution other than the reference split's
    train = digits.sample(len(real), generator=torch.Generator().manual_seed(5)).roll(1, dims=-1)
    fakes = Replay(train)
    critic = MeanCritic() if pack == 1 else Packed(MeanCritic(), pack)
    whole = ImageEvaluator(digits, z, seed=0, extractor=get_extractor("digits"))(fakes, critic, step=4)[0]
    monkeypatch.setattr(evaluators, "EVAL_CHUNK", 100)
    chunked, samples = ImageEvaluator(digits, z, seed=0, extractor=get_extractor("digits"))(fakes, critic, step=4)
    assert len(samples) == 512 and torch.equal(samples, train[:512])
    assert whole["fid"] > 0.01 and whole["kid"] > 1e-4 and abs(whole["critic_w"]) > 1e-3  # sizeable, not ~0
    for key in ("fid", "kid", "is", "critic_w"):
        assert chunked[key] == pytest.approx(whole[key], rel=1e-7, abs=1e-12), key


def test_feature_networks_load_at_the_first_evaluation_and_their_errors_name_the_config(tmp_path):
    """A run loaded only to sample needs no feature network; a training run meets a missing or unfit one before its
    first step, in a message that names eval_features and eval_weights."""
    rng = np.random.default_rng(0)
    path = tmp_path / "colour.npz"
    np.savez(path, x_train=rng.integers(0, 256, (20, 3, 8, 8), dtype=np.uint8),
             x_test=rng.integers(0, 256, (6, 3, 8, 8), dtype=np.uint8))
    colour = get_dataset("npz", path=str(path))
    z = torch.zeros(6, 2)
    missing = str(tmp_path / "nowhere.pth")
    ev = make_evaluator(colour, z, seed=0, features="inception-v3", weights=missing)  # nothing loaded yet
    assert type(ev) is ImageEvaluator and ev.real_features is None
    with pytest.raises(FileNotFoundError, match=f"eval_features = 'inception-v3' with eval_weights = '{missing}': "):
        ev.prepare()
    grey8 = str(digits_classifier_paths()[0])  # a classifier of grey 8 x 8 digits cannot read colour images
    ev = make_evaluator(colour, z, seed=0, features="classifier", weights=grey8)
    with pytest.raises(ValueError, match=r"the 'classifier' features cannot score data set 'npz' \(images "
                                         r"\(3, 8, 8\)\): the 'classifier' classifier takes grey images"):
        ev.prepare()
    from ganlab.recipes import resolve_config
    from ganlab.train import train

    out = tmp_path / "run"
    config = resolve_config(overrides=["--recipe=nsgan", "--data=npz", f"--data_params.path={path}", "--steps=2",
                                       "--eval_features=inception-v3", f"--eval_weights={missing}", f"--out={out}"])
    with pytest.raises(FileNotFoundError, match="eval_features = 'inception-v3'"):
        train(config, progress=False)
    assert not out.exists()  # refused before the run folder was written


def test_inception_features_score_an_rgb_folder_during_training(tmp_path, monkeypatch):
    """`eval_features = "inception-v3"`: FID / KID / IS of a colour folder, which has no domain classifier,
    against its held-out images, in the evaluator and in a training run's metrics.jsonl."""
    import hashlib
    import json

    from PIL import Image

    from ganlab.metrics import inception as inc
    from ganlab.recipes import resolve_config
    from ganlab.train import train

    path = tmp_path / "random_inception.pth"  # no weights are downloaded: seeded random ones stand in
    torch.save(inc.randomized_inception(seed=0).state_dict(), path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    monkeypatch.setattr(inc, "INPUT_SIZE", 75)  # 75 x 75 inputs instead of 299: cheaper, nothing else changes
    monkeypatch.setattr(inc, "FID_WEIGHTS_SHA256_PREFIX", digest[:8])  # this random file stands for the reference
    rng = np.random.default_rng(0)
    folder = tmp_path / "colour"
    folder.mkdir()
    for i in range(40):  # smooth colour ramps: every image RGB, 16 x 16
        ramp = np.linspace(0, 1, 16)[None, :, None] * rng.uniform(0, 255, size=(1, 1, 3))
        Image.fromarray((ramp + np.zeros((16, 1, 1))).astype(np.uint8)).save(folder / f"{i:02d}.png")
    ds = get_dataset("folder", path=str(folder), test_fraction=0.3)
    real = ds.held_out()
    assert real.shape == (12, 3, 16, 16)

    z = _index_latents(12, 4)
    ev = make_evaluator(ds, z, seed=0, features="inception-v3", weights=str(path))
    assert type(ev) is ImageEvaluator and ev.weights_sha256 == digest
    same, _ = ev(Replay(real * 2 - 1), MeanCritic(), step=1)
    train_images = ds.sample(12, generator=torch.Generator().manual_seed(0))
    other, _ = ev(Replay(train_images), MeanCritic(), step=1)
    assert abs(same["fid"]) < 1e-4 and other["fid"] > 1e-3  # the held-out images themselves: FID 0
    # IS of the held-out images from the network's 1008 logits, re-derived: exp(E KL(p(y|x) || p(y))), 10 splits
    _, logits = ev.extractor.features_and_logits(((real * 2 - 1) + 1) / 2)  # what the evaluator reads of G(z)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    splits = [p[i * 12 // 10:(i + 1) * 12 // 10] for i in range(10)]
    expected = np.mean([np.exp(np.mean(np.sum(q * (np.log(q) - np.log(q.mean(0, keepdims=True))), 1)))
                        for q in splits])
    assert same["is"] == pytest.approx(expected, rel=1e-9)

    out = tmp_path / "run"
    config = resolve_config(overrides=[
        "--recipe=nsgan", "--data=folder", f"--data_params.path={folder}", "--data_params.test_fraction=0.3",
        "--model=dcgan", "--batch_size=8", "--steps=2", "--eval_every=1", "--ckpt_every=0", "--eval_samples=12",
        "--eval_features=inception-v3", f"--eval_weights={path}", f"--out={out}"])
    train(config, progress=False)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    evaluated = [r for r in rows if "fid" in r]
    assert [r["step"] for r in evaluated] == [1, 2]
    assert all(np.isfinite(r["fid"]) and r["fid"] > 0 and r["is"] >= 1.0 and np.isfinite(r["kid"])
               for r in evaluated)
    assert evaluated[0]["reference_seconds"] > 0
    # sampling a finished run needs no feature network: the weight file may be gone
    from ganlab.runs import load_run

    path.unlink()
    loaded = load_run(out)
    with torch.no_grad():
        assert loaded.sampler(torch.randn(4, loaded.setup.latent_dim)).shape == (4, 3, 16, 16)
