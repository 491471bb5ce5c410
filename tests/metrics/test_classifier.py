"""The small domain classifier: the shipped digits weights (hash, accuracy on the held-out split), training, I/O."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pytest
import torch

from ganlab.metrics.classifier import (
    ClassifierConfig,
    SmallCNN,
    TrainSettings,
    accuracy,
    digits_classifier_paths,
    load_classifier,
    load_digits_classifier,
    max_pool2,
    save_classifier,
    scheduled_lr,
    train_classifier,
)


def test_shipped_weights_hash_matches_json():
    weights, record = digits_classifier_paths()
    info = json.loads(record.read_text())
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == info["sha256"]
    _, sha = load_digits_classifier()
    assert sha == info["sha256"]
    assert weights.stat().st_size < 200_000  # small enough to ship inside the package


def test_shipped_classifier_accuracy_on_held_out_digits():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    model, _ = load_digits_classifier()
    d = load_digits()
    # the split stated in the JSON, re-derived here: stratified halves, random_state 0
    _, x_test, _, y_test = train_test_split(d.images / 16.0, d.target, test_size=0.5, random_state=0,
                                            stratify=d.target)
    x = torch.as_tensor(x_test, dtype=torch.float32)[:, None]
    with torch.no_grad():
        pred = model(x).argmax(1).numpy()
    acc = float(np.mean(pred == y_test))
    info = json.loads(digits_classifier_paths()[1].read_text())
    assert acc >= 0.95
    assert acc == pytest.approx(info["test_accuracy"], abs=1e-12)
    assert len(y_test) == info["n_test"] == 899


def test_feature_scale_normalises_the_training_features():
    from ganlab.data.images import load_digits_split

    model, _ = load_digits_classifier()
    x_train, _ = load_digits_split("train")
    with torch.no_grad():
        f = model.features(x_train)
    assert float(f.pow(2).sum(1).mean() / f.shape[1]) == pytest.approx(1.0, abs=1e-5)


def _bars(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """28x28 images of one horizontal (label 0) or vertical (label 1) bright bar over noise."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (n,), generator=g)
    x = 0.2 * torch.rand(n, 1, 28, 28, generator=g)
    pos = torch.randint(4, 24, (n,), generator=g)
    for i in range(n):
        if labels[i] == 0:
            x[i, 0, pos[i] : pos[i] + 3, :] = 1.0
        else:
            x[i, 0, :, pos[i] : pos[i] + 3] = 1.0
    return x, labels


def test_training_28x28_is_seeded_and_learns(tmp_path):
    x, y = _bars(120, seed=0)
    idx = np.arange(120)
    cfg = ClassifierConfig(image_size=28, num_classes=2, c1=4, c2=8, feature_dim=8)
    settings = TrainSettings(epochs=5, batch_size=16, lr=1e-2, seed=5)
    m1, info = train_classifier(x, y, idx[:80], idx[80:], settings=settings, config=cfg)
    m2, _ = train_classifier(x, y, idx[:80], idx[80:], settings=settings, config=cfg)
    for (k, a), b in zip(m1.state_dict().items(), m2.state_dict().values()):
        assert torch.equal(a, b), k
    assert info["test_accuracy"] >= 0.9 and info["n_train"] == 80 and info["n_test"] == 40
    assert info["test_accuracy"] == pytest.approx(accuracy(m1, x[80:], y[80:]), abs=1e-12)
    assert m1.conv3 is not None  # 28x28 gets the second pooling stage


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(0)
    model = SmallCNN(ClassifierConfig(image_size=8, num_classes=3, c1=2, c2=4, feature_dim=5))
    model.feature_scale.fill_(2.5)
    path = tmp_path / "clf.safetensors"
    record = save_classifier(model, path, info={"note": "test"})
    assert record["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert json.loads(path.with_suffix(".json").read_text())["note"] == "test"
    loaded, sha = load_classifier(path, sha256=record["sha256"][:10])
    assert sha == record["sha256"] and loaded.config == model.config
    x = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(loaded.features(x), model.features(x), atol=0, rtol=0)
        torch.testing.assert_close(loaded(x), model(x), atol=0, rtol=0)
    with pytest.raises(ValueError, match="expected"):
        load_classifier(path, sha256="deadbeef")
    with pytest.raises(FileNotFoundError, match="ganlab classifier"):
        load_classifier(tmp_path / "missing.safetensors")
    with pytest.raises(ValueError, match=".safetensors"):
        save_classifier(model, tmp_path / "clf.pt")


def test_invalid_settings_are_refused():
    with pytest.raises(ValueError, match="lr"):
        TrainSettings(lr=0.0)
    with pytest.raises(ValueError, match="test_fraction"):
        TrainSettings(test_fraction=1.0)
    with pytest.raises(ValueError, match="num_classes"):
        ClassifierConfig(num_classes=1)


@pytest.mark.parametrize("name, recorded_floor, n_test", [("fashion-mnist", 0.92, 10000), ("mnist", 0.98, 2000)])
def test_shipped_28px_classifiers_match_their_records(name, recorded_floor, n_test):
    """The shipped MNIST / Fashion-MNIST weights, without the data: the file's SHA-256 is the JSON's and the one
    the loader reports, the recorded test accuracy is at least the target (Fashion-MNIST 92 %, MNIST 98 %) on the
    whole test split, and the file is small enough to ship."""
    from ganlab.metrics.classifier import load_shipped_classifier, shipped_classifier_paths

    weights, record = shipped_classifier_paths(name)
    info = json.loads(record.read_text())
    _, sha = load_shipped_classifier(name)
    assert sha == info["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert info["data"] == name and info["n_test"] == n_test and info["test_accuracy"] >= recorded_floor
    assert weights.stat().st_size < 1_000_000


@pytest.mark.parametrize("name, floor", [("fashion-mnist", 0.88), ("mnist", 0.95)])
def test_shipped_28px_classifiers_classify_the_held_out_split(name, floor):
    """On the first 1000 test images (the JSON records all 10 000 / 2 000) the accuracy is near the recorded
    one. Skips without the data."""
    from ganlab.data import get_dataset
    from ganlab.metrics.classifier import load_shipped_classifier, shipped_classifier_paths

    _, record = shipped_classifier_paths(name)
    try:
        ds = get_dataset(name)
    except FileNotFoundError as exc:
        pytest.skip(f"{name} data not installed: {exc}")
    info = json.loads(record.read_text())
    model, _ = load_shipped_classifier(name)
    assert info["n_test"] == len(ds.test_images) and info["data"] == name
    x, y = ds.held_out(1000), ds.held_out_labels(1000)
    acc = accuracy(model, x, y)
    assert acc >= floor and abs(acc - info["test_accuracy"]) < 0.03


def test_cosine_schedule_is_the_closed_form():
    cosine, constant = TrainSettings(lr=0.2, schedule="cosine"), TrainSettings(lr=0.2)
    total = 600
    for step, expected in [(0, 0.2), (150, 0.1 * (1 + math.cos(math.pi / 4))), (200, 0.15), (300, 0.1),
                           (400, 0.05), (600, 0.0)]:
        assert scheduled_lr(cosine, step, total) == pytest.approx(expected, abs=1e-15)
        assert scheduled_lr(constant, step, total) == 0.2
    with pytest.raises(ValueError, match="schedule must be one of constant, cosine, got 'linear'"):
        TrainSettings(schedule="linear")


def _halves(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """8x8 images whose label says which half is bright: 0 = left, 1 = right (mirroring swaps the classes)."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (n,), generator=g)
    x = 0.1 * torch.rand(n, 1, 8, 8, generator=g)
    x[labels == 0, 0, :, :4] += 0.8
    x[labels == 1, 0, :, 4:] += 0.8
    return x, labels


def test_hflip_mirrors_training_images_and_training_leaves_subnormals_alone():
    x, y = _halves(400, seed=0)
    idx = np.arange(400)
    cfg = ClassifierConfig(image_size=8, num_classes=2, c1=4, c2=4, feature_dim=8)
    kept, flipped = (train_classifier(x, y, idx[:300], idx[300:], config=cfg,
                                      settings=TrainSettings(epochs=4, batch_size=32, lr=1e-2, hflip=h))[1]
                     for h in (False, True))
    assert kept["test_accuracy"] >= 0.95  # the classes are a left / right distinction ...
    assert flipped["test_accuracy"] <= 0.8  # ... which random mirroring makes a coin toss during training
    assert kept["settings"]["hflip"] is False and flipped["settings"]["hflip"] is True
    # subnormals are flushed during training only: afterwards torch computes with them again
    assert float(torch.tensor(1e-39) * 2) == pytest.approx(2e-39, rel=1e-6)


@pytest.mark.parametrize("shape", [(3, 16, 28, 28), (2, 5, 7, 7), (4, 3, 14, 9), (1, 1, 2, 2)])
def test_max_pool2_is_torchs_max_pool2d_values_and_gradient(shape):
    # distinct values (a permutation), so no window has a tie and the gradients are comparable
    x = (torch.randperm(math.prod(shape), generator=torch.Generator().manual_seed(0)).reshape(shape).double()
         / 7.0 - 3.0)
    ours, theirs = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    y_ours, y_theirs = max_pool2(ours), torch.nn.functional.max_pool2d(theirs, 2)
    assert y_ours.shape == y_theirs.shape == (*shape[:2], shape[2] // 2, shape[3] // 2)
    assert torch.equal(y_ours, y_theirs)
    weight = torch.randn(y_ours.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    (y_ours * weight).sum().backward()
    (y_theirs * weight).sum().backward()
    assert torch.equal(ours.grad, theirs.grad)
    # a hand-built window: the maximum of each 2 x 2 block, the odd last row left out
    block = torch.tensor([[1.0, 5.0, 2.0, 0.0], [3.0, 4.0, 8.0, 1.0], [9.0, 9.0, 9.0, 9.0]])[None, None]
    assert max_pool2(block).tolist() == [[[[5.0, 8.0]]]]
