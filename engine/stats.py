"""Summary statistics shared by the benchmark and the evaluation, so both report figures alike."""

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100), linear interpolation between closest ranks; None for no values.

    Interpolating (numpy's default method) rather than picking the nearest rank: with the few
    samples a benchmark or an evaluation has (8 conversations, 20 answers of one source), a nearest
    rank jumps a whole sample when one more is added, and p50 of an even count is the mean of the
    two middle values, as `statistics.median` gives.
    """
    if not values:
        return None
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is not between 0 and 100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
