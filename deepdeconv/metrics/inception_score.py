"""Inception Score (Salimans et al. 2016, "Improved Techniques for Training GANs").

IS = exp(E_x KL(p(y|x) || p(y))), computed on `splits` contiguous slices of the samples,
as openai/improved-gan, TTUR and TF-GAN do; mean and standard deviation (ddof 0) over splits.
"""
import numpy as np
from scipy.special import log_softmax


def inception_score_from_log_probs(log_probs, splits=10):
    """Inception Score from per-sample log class probabilities [N, C].

    Returns:
        (mean, std) over the splits, as Python floats.
    """
    log_p = np.asarray(log_probs, np.float64)
    n = len(log_p)
    if n < splits:
        raise ValueError(f"Inception Score with {splits} splits needs at least {splits} samples, got {n}")
    scores = []
    for i in range(splits):
        part = log_p[i * n // splits:(i + 1) * n // splits]
        p = np.exp(part)
        log_marginal = np.log(p.mean(axis=0))
        # 0 * log 0 terms are 0 by convention (and would be nan as -inf - -inf).
        with np.errstate(invalid="ignore"):
            terms = np.where(p > 0, p * (part - log_marginal), 0.0)
        kl = terms.sum(axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


def inception_score(logits, splits=10):
    """Inception Score from unnormalised logits [N, C] (softmax taken in float64).

    For the 2015-12-05 graph these are the 1008 unbiased logits `pool_3 @ W`.
    """
    return inception_score_from_log_probs(log_softmax(np.asarray(logits, np.float64), axis=1), splits)


def inception_score_from_probs(probs, splits=10):
    """Inception Score from class probabilities [N, C] (rows sum to 1)."""
    with np.errstate(divide="ignore"):
        return inception_score_from_log_probs(np.log(np.asarray(probs, np.float64)), splits)
