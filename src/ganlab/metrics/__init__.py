"""Sample-quality metrics as pure float64 functions: features -> statistics -> metric -> typed result.

Feature extraction lives apart (``ganlab.metrics.features``); these functions take feature arrays
(numpy or torch) and return small frozen dataclasses that record the protocol. See docs/MATH.md (Metrics).
"""

from ganlab.metrics.fid import FIDResult, StreamingStatistics, feature_statistics, fid_from_features, fid_from_stats
from ganlab.metrics.inception_score import ISResult, inception_score
from ganlab.metrics.kid import KIDResult, kid
from ganlab.metrics.prdc import DCResult, PRResult, density_coverage, precision_recall
from ganlab.metrics.stacked_mnist import StackedModes, classify_stacked, stacked_mnist_modes

__all__ = [
    "FIDResult",
    "ISResult",
    "KIDResult",
    "PRResult",
    "DCResult",
    "StreamingStatistics",
    "feature_statistics",
    "fid_from_stats",
    "fid_from_features",
    "inception_score",
    "kid",
    "precision_recall",
    "density_coverage",
    "StackedModes",
    "stacked_mnist_modes",
    "classify_stacked",
]
