"""The one percentile the benchmark and the evaluation report with."""

import statistics

import pytest

from engine.stats import percentile


def test_percentile_interpolates_between_ranks():
    assert percentile([], 50) is None
    assert percentile([5], 95) == 5
    assert percentile([4, 1, 3, 2], 50) == 2.5
    assert percentile(list(range(1, 101)), 95) == pytest.approx(95.05)


def test_the_ends_are_the_smallest_and_largest_value():
    values = [0.31, 0.12, 0.55, 0.2]
    assert percentile(values, 0) == 0.12
    assert percentile(values, 100) == 0.55


def test_the_median_is_what_statistics_gives_for_odd_and_even_counts():
    for values in ([3.0, 1.0, 2.0], [3.0, 1.0, 2.0, 10.0], [0.4] * 7):
        assert percentile(values, 50) == pytest.approx(statistics.median(values))


def test_a_tail_percentile_stays_within_the_two_values_around_it():
    # Eight first-token times, as a benchmark of eight conversations has: p95 lies between the
    # two slowest, nearer the slowest.
    times = [0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 3.0]
    assert 1.4 < percentile(times, 95) < 3.0
    assert percentile(times, 95) == pytest.approx(1.4 + (3.0 - 1.4) * 0.65)


def test_a_percentile_outside_0_to_100_is_refused():
    # 0.95 for p95 is the mistake this catches.
    with pytest.raises(ValueError, match="between 0 and 100"):
        percentile([1.0], 105)
    with pytest.raises(ValueError, match="between 0 and 100"):
        percentile([1.0], -1)
