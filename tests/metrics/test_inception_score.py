"""Inception Score against closed forms and an independent numpy implementation of the published formula."""

import numpy as np
import pytest
import torch

from ganlab.metrics import inception_score


def reference_is(p, splits):
    """Salimans et al. 2016 protocol re-derived here: contiguous splits [i N / s, (i+1) N / s), exp(mean KL), mean/std."""
    n = p.shape[0]
    scores = []
    for i in range(splits):
        part = p[i * n // splits:(i + 1) * n // splits]
        p_y = part.mean(axis=0, keepdims=True)
        kl = np.sum(part * (np.log(part) - np.log(p_y)), axis=1)
        scores.append(np.exp(np.mean(kl)))
    return np.mean(scores), np.std(scores), np.array(scores)


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_identical_predictions_give_one():
    p = np.tile(np.array([0.7, 0.2, 0.1]), (50, 1))
    r = inception_score(p, splits=5)
    np.testing.assert_allclose([r.mean, r.std], [1.0, 0.0], rtol=0, atol=1e-12)


@pytest.mark.parametrize("num_classes", [2, 10, 1008])
def test_uniform_one_hot_gives_number_of_classes(num_classes):
    labels = np.arange(num_classes * 10) % num_classes  # every split holds each class equally often
    p = np.eye(num_classes)[labels]
    r = inception_score(p, splits=10)
    np.testing.assert_allclose([r.mean, r.std], [num_classes, 0.0], rtol=1e-12, atol=1e-9)
    assert r.num_classes == num_classes


@pytest.mark.parametrize("n, splits", [(1000, 10), (997, 10), (64, 3), (50, 1)])
def test_matches_independent_reference(n, splits):
    rng = np.random.default_rng(n + splits)
    p = rng.dirichlet(np.full(12, 0.3), size=n)
    p = np.clip(p, 1e-12, None)
    p /= p.sum(axis=1, keepdims=True)
    mean, std, scores = reference_is(p, splits)
    r = inception_score(torch.from_numpy(p), splits=splits)
    np.testing.assert_allclose(r.split_scores, scores, rtol=1e-12, atol=0)
    np.testing.assert_allclose([r.mean, r.std], [mean, std], rtol=1e-12, atol=1e-15)
    assert (r.n, r.splits, r.ddof, r.shuffled) == (n, splits, 0, False)


def test_from_logits_uses_softmax_over_all_columns():
    rng = np.random.default_rng(3)
    z = rng.standard_normal((200, 1008)) * 4.0
    r = inception_score(z, from_logits=True)
    mean, std, _ = reference_is(softmax(z), 10)
    np.testing.assert_allclose([r.mean, r.std], [mean, std], rtol=1e-11, atol=0)
    # Dropping 8 columns (the 1000-class convention) is a different number: the caller must slice.
    sliced = inception_score(z[:, :1000], from_logits=True)
    np.testing.assert_allclose(sliced.mean, reference_is(softmax(z[:, :1000]), 10)[0], rtol=1e-11, atol=0)
    assert sliced.mean != r.mean


def test_huge_logits_are_stable():
    labels = np.arange(48) % 4  # 12 rows per split, each class 3 times
    z = np.eye(4)[labels] * 1e4  # softmax is one-hot to double precision; naive exp overflows
    r = inception_score(z, splits=4, from_logits=True)
    np.testing.assert_allclose(r.mean, 4.0, rtol=1e-12, atol=0)


def test_shuffle_option_changes_what_it_says():
    labels = np.repeat(np.arange(10), 20)  # sorted by class: each contiguous split holds one class
    p = np.eye(10)[labels]
    contiguous = inception_score(p, splits=10)
    np.testing.assert_allclose(contiguous.mean, 1.0, rtol=0, atol=1e-12)
    shuffled = inception_score(p, splits=10, shuffle=True, seed=0)
    perm = np.random.default_rng(0).permutation(200)
    np.testing.assert_allclose(shuffled.split_scores, inception_score(p[perm], splits=10).split_scores, rtol=1e-13)
    assert shuffled.shuffled and shuffled.mean > 5.0


def test_ddof_option_is_bessel_std():
    rng = np.random.default_rng(4)
    p = rng.dirichlet(np.ones(5), size=300)
    pop, bessel = inception_score(p, ddof=0), inception_score(p, ddof=1)
    np.testing.assert_allclose(bessel.std, np.std(pop.split_scores, ddof=1), rtol=1e-13, atol=0)
    np.testing.assert_allclose(bessel.std, pop.std * np.sqrt(10 / 9), rtol=1e-13, atol=0)
    assert bessel.mean == pop.mean


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(probs_or_logits=np.array([[0.5, 0.6], [0.5, 0.5]])), "sum to 1"),
        (dict(probs_or_logits=np.array([[1.2, -0.2], [0.5, 0.5]])), "non-negative"),
        (dict(probs_or_logits=np.full((4, 2), 0.5), splits=5), "splits must be <="),
        (dict(probs_or_logits=np.full((4, 2), 0.5), splits=0), "splits"),
        (dict(probs_or_logits=np.full((4, 2), 0.5), splits=1, ddof=1), "ddof"),
        (dict(probs_or_logits=np.full((4, 2), 0.5), ddof=2, splits=2), "ddof"),
        (dict(probs_or_logits=np.full((4, 2), np.nan), from_logits=True, splits=2), "finite"),
        (dict(probs_or_logits=np.ones(4), splits=2), "2-D"),
    ],
)
def test_bad_input_raises_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        inception_score(**kwargs)
