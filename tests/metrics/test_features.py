"""The feature-extractor interface: identity features, the digits classifier extractor, the one factory."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganlab.data.images import load_digits_split
from ganlab.metrics.classifier import load_digits_classifier
from ganlab.metrics.features import (
    EXTRACTOR_NAMES,
    ClassifierExtractor,
    FeatureExtractor,
    IdentityExtractor,
    get_extractor,
)


def test_identity_features_are_the_inputs_in_float64():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(7, 2, generator=g, dtype=torch.float32)
    ext = get_extractor("identity")
    f = ext.features(x)
    assert f.dtype == np.float64 and f.shape == (7, 2)
    np.testing.assert_array_equal(f, x.double().numpy())
    assert ext.dim == 2 and ext.num_classes is None and ext.weights_sha256 is None
    with pytest.raises(ValueError, match="dimension 3"):
        ext.features(torch.zeros(4, 3))
    with pytest.raises(ValueError, match="no classifier"):
        ext.logits(x)


def test_identity_flattens_images():
    x = torch.arange(2 * 3 * 2 * 2, dtype=torch.float64).reshape(2, 3, 2, 2)
    np.testing.assert_array_equal(IdentityExtractor().features(x), x.reshape(2, 12).numpy())
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        IdentityExtractor().features(torch.zeros(5))


def test_every_extractor_follows_the_protocol():
    for ext in (get_extractor("identity"), get_extractor("digits")):
        assert isinstance(ext, FeatureExtractor)
        d = ext.describe()
        assert d["extractor"] == ext.name and d["weights_sha256"] == ext.weights_sha256


def test_digits_extractor_gives_scaled_penultimate_features_and_logits():
    ext = get_extractor("digits")
    model, sha = load_digits_classifier()
    assert ext.name == "digits" and ext.weights_sha256 == sha and ext.dim == 64 and ext.num_classes == 10
    images, labels = load_digits_split("test")
    feats, logits = ext.features_and_logits(images[:50])
    assert feats.shape == (50, 64) and logits.shape == (50, 10) and feats.dtype == np.float64
    # features: the ReLU layer feeding the last linear map, divided by the stored scale; logits = fc2(ReLU layer)
    with torch.no_grad():
        h = torch.relu(model.fc1(torch.flatten(torch.max_pool2d(
            torch.relu(model.conv2(torch.relu(model.conv1(images[:50])))), 2), 1)))
        ref_logits = h @ model.fc2.weight.T + model.fc2.bias
    np.testing.assert_allclose(feats, (h / model.feature_scale).double().numpy(), atol=1e-6, rtol=1e-6)
    np.testing.assert_allclose(logits, ref_logits.double().numpy(), atol=1e-5, rtol=1e-5)
    assert (logits.argmax(1) == labels[:50].numpy()).mean() > 0.9


def test_classifier_features_do_not_depend_on_batch_size():
    images, _ = load_digits_split("test")
    outs = []
    for bs in (1, 7, 1024):
        ext = ClassifierExtractor(name="digits", batch_size=bs)
        outs.append(ext.features_and_logits(images[:40]))
    for f, lg in outs[1:]:
        np.testing.assert_allclose(f, outs[0][0], atol=1e-5, rtol=0)
        np.testing.assert_allclose(lg, outs[0][1], atol=1e-5, rtol=0)


def test_digits_extractor_refuses_other_shapes():
    ext = get_extractor("digits")
    with pytest.raises(ValueError, match=r"\(N, 1, 8, 8\)"):
        ext.features(torch.zeros(2, 1, 28, 28))
    with pytest.raises(ValueError, match="RGB"):
        ext.features(torch.zeros(2, 3, 8, 8))
    with pytest.raises(ValueError, match=r"got shape \(2, 64\)"):
        ext.features(torch.zeros(2, 64))


def test_factory_errors_name_the_choices():
    with pytest.raises(ValueError, match="unknown feature extractor 'vgg'.*inception-v3"):
        get_extractor("vgg")
    with pytest.raises(ValueError, match="classifier-weights"):
        get_extractor("classifier")
    with pytest.raises(ValueError, match="shipped"):
        get_extractor("digits", classifier_weights="x.safetensors")
    assert set(EXTRACTOR_NAMES) == {"inception-v3", "digits", "mnist", "fashion-mnist", "classifier", "identity"}
