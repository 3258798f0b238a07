"""Counter growth from raw samples: edges on scrape timestamps, Prometheus's reset rule, series that come and go.

The reset rule is Prometheus's: in ``increase()``/``rate()`` a sample lower than the one before
means the counter restarted from 0 (prometheus/promql/functions.go, extrapolatedRate: "if
sample.F < prevValue { resultFloat += prevValue }"), documented at
https://prometheus.io/docs/prometheus/latest/querying/functions/#increase ("Breaks in monotonicity
(such as counter resets due to target restarts) are automatically adjusted for").
"""

from __future__ import annotations

import pandas as pd
import pytest

from harness.metrics._counters import growth


def frame(series: dict[tuple[str, str], list[tuple[float, float]]]) -> pd.DataFrame:
    """{(instance, code): [(t, value), ...]} as the long frame the Prometheus client gives."""
    rows = [{"job": "envoy", "instance": instance, "code": code, "timestamp": t, "value": v}
            for (instance, code), samples in series.items() for t, v in samples]
    return pd.DataFrame(rows)


def scraped(instance: str, code: str, values: list[float], *, every: float = 15, offset: float = 0) -> dict:
    return {(instance, code): [(offset + i * every, v) for i, v in enumerate(values)]}


def test_inner_edges_count_only_between_scrapes_inside_the_window() -> None:
    # scrapes at 0, 15, 30, 45, 60, 75; window [10, 70]: counted from the scrape at 15 to the one at 60
    data = frame(scraped("a", "200", [0, 100, 250, 400, 550, 700]))
    got = growth(data, 10, 70, edges="inner")
    assert got.total == 550 - 100
    assert got.covered == (15, 60)
    assert got.rate == pytest.approx(450 / 45)


def test_outer_edges_cover_the_whole_window() -> None:
    data = frame(scraped("a", "200", [0, 100, 250, 400, 550, 700]))
    got = growth(data, 10, 70, edges="outer")
    assert got.total == 700 - 0
    assert got.covered == (0, 75)


def test_a_restart_mid_window_counts_the_growth_before_and_after_it() -> None:
    # 100 -> 180 (+80), restart: 30 (+30 from 0), 90 (+60): 170 in all; a difference of ends says -10 -> 0
    data = frame(scraped("a", "503", [100, 180, 30, 90]))
    assert growth(data, 0, 45, edges="inner").total == 170


def test_series_born_in_the_window_count_from_zero_and_vanished_ones_until_their_last_sample() -> None:
    born = {("a", "503"): [(30, 7), (45, 19)]}                 # first seen after the starting scrape (0)
    vanished = {("a", "500"): [(0, 50), (15, 60)]}             # gone after 15 (pod deleted)
    steady = scraped("a", "200", [0, 10, 20, 30])
    got = growth(frame({**born, **vanished, **steady}), 0, 45, edges="inner")
    assert got.total == 19 + 10 + 30
    assert got.series == 3


def test_a_series_whose_first_sample_is_the_starting_scrape_is_its_baseline() -> None:
    # it may hold events from before the window: left out, as the other series' first interval is
    data = frame({("a", "503"): [(15, 40), (30, 55)], **scraped("a", "200", [0, 5, 9], offset=15)})
    assert growth(data, 10, 40, edges="inner").total == 15 + 5


def test_targets_are_edged_on_their_own_scrape_times() -> None:
    data = frame({**scraped("a", "200", [0, 10, 20, 30, 40]), **scraped("b", "200", [0, 7, 14, 21, 28], offset=7)})
    got = growth(data, 5, 50, edges="inner")
    # a: scrapes at 15 and 45 -> 30 - 10; b (scraped at 7, 22, 37, 52): 7 and 37 -> 14 - 0
    assert got.total == 20 + 14
    assert got.rate == pytest.approx(20 / 30 + 14 / 30)


def test_no_samples_and_too_short_windows_count_nothing() -> None:
    assert growth(pd.DataFrame(columns=["timestamp", "value"]), 0, 60, edges="inner").series == 0
    one_scrape = growth(frame(scraped("a", "200", [0, 10, 20])), 16, 29, edges="inner")
    assert one_scrape.total == 0 and one_scrape.covered is None


def test_lag_moves_the_starting_scrape() -> None:
    data = frame(scraped("a", "200", [0, 10, 20, 30], every=1))
    assert growth(data, 1, 3, edges="inner").total == 20
    assert growth(data, 1, 3, edges="inner", lag_s=0.5).total == 10


def test_growth_by_label_for_histogram_buckets() -> None:
    data = frame({**scraped("a", "1", [0, 2, 5]), **scraped("a", "+Inf", [0, 4, 9])}).rename(columns={"code": "le"})
    per_le = growth(data, 0, 30, edges="inner", by="le")
    assert {le: g.total for le, g in per_le.items()} == {"1": 5, "+Inf": 9}


def test_a_target_whose_series_all_appear_inside_the_window_counts_from_zero_given_the_interval() -> None:
    # a service's first requests: its series appear at the scrape at 45; the scrape before (30) is inside
    data = frame({("a", "200"): [(45, 12), (60, 20)]})
    assert growth(data, 20, 70, edges="inner", interval_s=15).total == 20
    # without knowing the interval, or when the previous scrape (25) may predate the window, 12 is a baseline
    assert growth(data, 20, 70, edges="inner").total == 8
    assert growth(frame({("a", "200"): [(40, 12), (55, 20)]}), 30, 70, edges="inner", interval_s=15).total == 8
