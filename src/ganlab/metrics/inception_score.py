"""Inception Score: IS = exp(E_x KL(p(y|x) || p(y))), with the reference split protocol.

Reference: lecture 001_b56ff7e156eb3bba.txt and lecture 000_b0081a5cac0268ab.txt, slides "Inception Score";
Salimans et al. 2016 (arXiv:1606.03498) and its code (openai/improved-gan, ``inception_score.py``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.special

from ganlab.metrics._checks import check_int, check_logits, check_probabilities

__all__ = ["ISResult", "inception_score", "split_bounds"]

#: Rows of probabilities must sum to 1 within this absolute tolerance (float32 softmax is ~1e-6 off).
PROB_SUM_ATOL = 1e-3


@dataclass(frozen=True)
class ISResult:
    """Inception Score over splits with its protocol; ``float(result)`` is ``mean``.

    ``mean`` and ``std`` (with ``ddof``) of ``split_scores``, one ``exp(mean KL)`` per split; ``n`` samples,
    ``num_classes`` (the softmax width), ``splits``, whether the inputs were logits, whether they were
    shuffled (and the seed), and the feature network's name and weight hash when the caller gives them.
    """

    mean: float
    std: float
    split_scores: tuple[float, ...]
    splits: int
    n: int
    num_classes: int
    from_logits: bool
    shuffled: bool
    ddof: int
    seed: int | None = None
    extractor: str | None = None
    weights_hash: str | None = None

    def __float__(self) -> float:
        return self.mean

    def as_dict(self) -> dict[str, Any]:
        """Plain dict of every field (for JSON logs)."""
        return dataclasses.asdict(self)


def split_bounds(n: int, splits: int) -> list[tuple[int, int]]:
    """Contiguous split ``i`` is rows ``[i n // splits, (i + 1) n // splits)``, as in openai/improved-gan."""
    return [(i * n // splits, (i + 1) * n // splits) for i in range(splits)]


def _split_score(log_p: np.ndarray) -> float:
    """``exp((1/m) sum_x sum_y p(y|x) (log p(y|x) - log p_bar(y)))`` with ``p_bar = mean_x p(y|x)``."""
    m = log_p.shape[0]
    p = np.exp(log_p)
    log_p_bar = scipy.special.logsumexp(log_p, axis=0) - np.log(m)
    # 0 * log 0 = 0: terms with p(y|x) = 0 contribute nothing (the reference code gives nan there).
    with np.errstate(invalid="ignore"):
        terms = np.where(p > 0.0, p * (log_p - log_p_bar), 0.0)
    return float(np.exp(np.mean(np.sum(terms, axis=1))))


def inception_score(
    probs_or_logits: Any,
    *,
    splits: int = 10,
    from_logits: bool = False,
    shuffle: bool = False,
    ddof: int = 0,
    seed: int | None = None,
    extractor: str | None = None,
    weights_hash: str | None = None,
) -> ISResult:
    """``IS = exp(E_x KL(p(y|x) || p(y)))``, ``p(y) = E_x p(y|x)``, per split; mean and std over splits.

    Shapes: ``probs_or_logits``: ``(N, C)``, rows of class probabilities ``p(y|x)`` (non-negative,
    summing to 1 within ``PROB_SUM_ATOL``) or, with ``from_logits=True``, unnormalised logits. The
    softmax is taken over all ``C`` columns it receives: for the reference network that is all 1008
    outputs of pool3 @ W (as openai/improved-gan does), not the 1000 ImageNet classes; slice the logits
    before the call for another convention.

    Protocol (defaults = the paper's code, openai/improved-gan): ``splits=10`` contiguous, unshuffled
    blocks of rows ``[i N // splits, (i + 1) N // splits)``; per block ``exp(mean KL)``; the result is the
    mean and population std (``ddof=0``) of the block scores. Popular reimplementations differ, so their
    choices are options only: ``shuffle=True`` permutes the rows first (with ``seed``; torchmetrics does
    this, and also splits with ``torch.chunk``, whose blocks equal these when ``splits`` divides ``N``);
    ``ddof=1`` gives Bessel's std (torchmetrics).

    Reference: lecture 001_b56ff7e156eb3bba.txt, slide "Inception Score" (IS = exp(E_x KL(p(y|x)||p(y))));
    Salimans et al. 2016 (arXiv:1606.03498).

    Note: logs are taken stably: ``log_softmax`` for logits, ``log p_bar = logsumexp(log p) - log m``, and
    ``0 log 0 = 0``, so one-hot predictions give finite scores (the reference code returns nan there).
    """
    splits = check_int(splits, "splits", minimum=1)
    if ddof not in (0, 1) or isinstance(ddof, bool):
        raise ValueError(f"ddof must be 0 (population std, reference) or 1 (Bessel), got {ddof!r}")
    if from_logits:
        z = check_logits(probs_or_logits, "logits")
        log_p = scipy.special.log_softmax(z, axis=1)
    else:
        p = check_probabilities(probs_or_logits, "probs", atol=PROB_SUM_ATOL)
        with np.errstate(divide="ignore"):
            log_p = np.log(p)
    n, c = log_p.shape
    if splits > n:
        raise ValueError(f"splits must be <= the number of samples N = {n}, got splits = {splits}")
    if ddof >= splits:
        raise ValueError(f"ddof = {ddof} needs splits > {ddof}, got splits = {splits}")
    if shuffle:
        log_p = log_p[np.random.default_rng(seed).permutation(n)]
    scores = np.array([_split_score(log_p[lo:hi]) for lo, hi in split_bounds(n, splits)])
    return ISResult(
        mean=float(np.mean(scores)),
        std=float(np.std(scores, ddof=ddof)),
        split_scores=tuple(float(s) for s in scores),
        splits=splits,
        n=n,
        num_classes=c,
        from_logits=bool(from_logits),
        shuffled=bool(shuffle),
        ddof=int(ddof),
        seed=seed,
        extractor=extractor,
        weights_hash=weights_hash,
    )
