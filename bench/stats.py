"""Summary statistics and the paired test the quality report uses. Pure Python and scipy."""
import math
import statistics
from typing import Dict, Sequence

from scipy.stats import binomtest


def summarize(values: Sequence[float]) -> dict:
    """Mean, sample standard deviation (0 for one value), min, max, n and the values."""
    values = [float(v) for v in values if not math.isnan(v)]
    if not values:
        return {"mean": float("nan"), "std": float("nan"), "min": float("nan"), "max": float("nan"), "n": 0,
                "values": []}
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values), "n": len(values), "values": values}


def paired_test(first: Sequence[bool], second: Sequence[bool]) -> Dict[str, float]:
    """Exact two-sided McNemar test of two models' correctness on the same examples:
    ``only_first`` (first right, second wrong), ``only_second`` and ``p_value`` (binomial
    test of the discordant pairs against an even split)."""
    if len(first) != len(second):
        raise ValueError(f"paired results differ in length: {len(first)} vs {len(second)}")
    only_first = sum(1 for a, b in zip(first, second) if a and not b)
    only_second = sum(1 for a, b in zip(first, second) if b and not a)
    discordant = only_first + only_second
    p_value = binomtest(only_first, discordant).pvalue if discordant else 1.0
    return {"only_first": only_first, "only_second": only_second, "p_value": float(p_value)}


def accuracy(predicted: Sequence[str], gold: Sequence[str]) -> float:
    return sum(p == g for p, g in zip(predicted, gold)) / len(gold) if gold else float("nan")


def macro_f1(predicted: Sequence[str], gold: Sequence[str]) -> float:
    """Unweighted mean over the gold classes of each class's F1 (0 for a class never
    predicted correctly)."""
    scores = []
    for label in sorted(set(gold)):
        hits = sum(1 for p, g in zip(predicted, gold) if p == g == label)
        said = sum(1 for p in predicted if p == label)
        present = sum(1 for g in gold if g == label)
        scores.append(2 * hits / (said + present) if hits else 0.0)
    return statistics.fmean(scores) if scores else float("nan")
