"""The runner's baseline and drift: contract, edge cases, streaming == batch, and the injected fatigue.

The bundled ``simulated_fatigue_run`` drifts linearly over 30 minutes: +3° anterior tilt, +10 % impact
asymmetry (left harder), −6 spm cadence, +15 ms contact. The drift measured at the end (mean over the last
three full minutes) must match the drift of the ground truth between the same baseline minutes and the same
last minutes within tolerances fixed before looking at the result: a physio's smallest meaningful change
for each figure, each well below the injected change so the test can fail.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from imu.aggregates import MINUTE_COLUMNS, step_pairs
from imu.analyze import Analysis
from imu.fatigue import DRIFT_COLUMNS, FIGURES, FLOORS, Baseline, FatigueTracker, with_drift

from .conftest import FATIGUE_RUN

TOLERANCE = {"tilt_mean_deg": 0.75, "impact_asymmetry_pct": 3.0, "cadence_spm": 1.0, "contact_time_s": 0.005}
INJECTED = {"tilt_mean_deg": 3.0, "impact_asymmetry_pct": 10.0, "cadence_spm": -6.0, "contact_time_s": 0.015}


def _minutes(values: dict[str, list[float]], running_s: list[float] | None = None) -> pd.DataFrame:
    n = len(next(iter(values.values())))
    frame = pd.DataFrame({"t_start_s": 60.0 * np.arange(n), "running_s": running_s or [60.0] * n})
    for f in FIGURES:
        frame[f] = values.get(f, [np.nan] * n)
    return frame


# ---------------------------------------------------------------------------------------------- contract
def test_baseline_skips_warmup_and_short_minutes_then_takes_three() -> None:
    cadence = [150.0, 170.0, 171.0, 100.0, 172.0, 160.0, 150.0]
    running = [60.0, 60.0, 60.0, 10.0, 60.0, 60.0, 60.0]  # minute 3 holds too little running to count
    base = Baseline.from_minutes(_minutes({"cadence_spm": cadence}, running))
    assert base is not None
    assert base.t_start_s == (60.0, 120.0, 240.0)
    assert base.mean["cadence_spm"] == pytest.approx(171.0)
    assert base.sd["cadence_spm"] == pytest.approx(1.0)
    assert np.isnan(base.mean["tilt_mean_deg"])  # a figure the baseline lacks


def test_drift_and_flag_use_two_sd_or_the_floor() -> None:
    cadence = [150.0, 170.0, 172.0, 174.0, 177.0, 178.5]  # baseline 172 ± 2 (SD): band 4 spm
    contact = [0.2, 0.25, 0.25, 0.25, 0.2531, 0.27]  # SD 0 → the floor (5 ms) decides
    out = with_drift(_minutes({"cadence_spm": cadence, "contact_time_s": contact}))
    assert list(out.columns[-len(DRIFT_COLUMNS) :]) == list(DRIFT_COLUMNS)
    np.testing.assert_allclose(out["cadence_spm_drift"], np.array(cadence) - 172.0)
    assert out["cadence_spm_drift_flag"].tolist() == [True, False, False, False, True, True]
    assert out["contact_time_s_drift_flag"].tolist() == [True, False, False, False, False, True]
    assert out["baseline"].tolist() == [False, True, True, True, False, False]
    assert not out["tilt_mean_deg_drift_flag"].any() and out["tilt_mean_deg_drift"].isna().all()


def test_a_run_too_short_for_a_baseline_has_no_drift() -> None:
    out = with_drift(_minutes({"cadence_spm": [170.0, 171.0, 169.0]}))
    assert len(out) == 3 and out["cadence_spm_drift"].isna().all() and not out["baseline"].any()
    assert with_drift(_minutes({"cadence_spm": []})).empty


def test_a_stated_baseline_is_used_from_the_first_minute() -> None:
    other = _minutes({"cadence_spm": [150.0, 160.0, 160.0, 160.0]})
    base = Baseline.from_minutes(other)
    assert base is not None and base.sd["cadence_spm"] == 0.0
    tracker = FatigueTracker(baseline=base)
    out = tracker.update(_minutes({"cadence_spm": [170.0]}))
    assert out["cadence_spm_drift"].tolist() == [10.0] and out["cadence_spm_drift_flag"].tolist() == [True]


@pytest.mark.parametrize("seed", range(5))
def test_streaming_equals_batch_for_any_split(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 12))
    table = _minutes({f: list(rng.normal(10, 1, n)) for f in FIGURES}, list(rng.choice([10.0, 60.0], n)))
    tracker = FatigueTracker()
    parts, i = [], 0
    while i < n:
        k = int(rng.integers(1, 4))
        parts.append(tracker.update(table.iloc[i : i + k]))
        i += k
    parts.append(tracker.flush())
    streamed = pd.concat([p for p in parts if len(p)], ignore_index=True) if n else with_drift(table)
    pd.testing.assert_frame_equal(streamed, with_drift(table))


def test_minutes_csv_keeps_the_contract_columns_first() -> None:
    first = list(MINUTE_COLUMNS)[:7]
    assert first == [
        "t_start_s",
        "cadence_spm",
        "contact_time_s",
        "impact_asymmetry_pct",
        "tilt_mean_deg",
        "tilt_rom_deg",
        "tilt_rom_sd_deg",
    ]
    assert list(MINUTE_COLUMNS)[-len(DRIFT_COLUMNS) :] == list(DRIFT_COLUMNS)
    assert set(FLOORS) == set(FIGURES)


# ------------------------------------------------------------------------------------------ the fatigued run
def _truth_per_minute(t0_s: float) -> pd.DataFrame:
    """The ground truth's per-minute figures, computed as the minutes table computes them."""
    steps = pd.read_parquet(FATIGUE_RUN / "truth" / "steps.parquet")
    strides = pd.read_parquet(FATIGUE_RUN / "truth" / "strides.parquet")
    as_steps = pd.DataFrame(
        {
            "t_s": steps["t_ic_s"],
            "side": steps["side"],
            "gait": "running",
            "bout": 0,
            "impact_g": steps["impact_g"],
            "impact_clipped": False,
            "contact_time_s": steps["contact_time_s"],
        }
    )
    pairs = step_pairs(as_steps)
    minute = lambda t: ((t - t0_s) // 60).astype(int)  # noqa: E731
    return pd.DataFrame(
        {
            "cadence_spm": strides.groupby(minute(strides["t_start_s"]))["cadence_spm"].mean(),
            "contact_time_s": steps.groupby(minute(steps["t_ic_s"]))["contact_time_s"].mean(),
            "impact_asymmetry_pct": pairs.groupby(minute(pairs["t_s"]))["impact_asymmetry_pct"].mean(),
            "tilt_mean_deg": strides.groupby(minute(strides["t_start_s"]))["tilt_mean_deg"].mean(),
        }
    )


@pytest.fixture(scope="module")
def end_drift(fatigue_analysis: Analysis) -> tuple[pd.DataFrame, pd.DataFrame, list[int], list[int]]:
    minutes = fatigue_analysis.minutes
    t0 = float(fatigue_analysis.summary["input"]["t_start_s"])
    full = minutes[minutes["running_s"] >= 45.0]  # the last minutes with running most of the time
    last = [int(m) for m in ((full["t_start_s"].iloc[-3:] - t0) // 60)]
    base = [int(m) for m in ((minutes.loc[minutes["baseline"], "t_start_s"] - t0) // 60)]
    return minutes, _truth_per_minute(t0), base, last


@pytest.mark.parametrize("figure", list(TOLERANCE))
def test_end_drift_matches_the_injected_fatigue(figure: str, end_drift: tuple) -> None:
    minutes, truth, base, last = end_drift
    assert len(base) == 3 and base[0] >= 1  # after the warm-up minute
    assert TOLERANCE[figure] < abs(INJECTED[figure]) / 2  # the test can fail
    rows = minutes.set_index(((minutes["t_start_s"] - minutes["t_start_s"].iloc[0]) // 60).astype(int))
    measured = float(rows.loc[last, f"{figure}_drift"].mean())
    expected = float(truth.loc[last, figure].mean() - truth.loc[base, figure].mean())
    print(
        f"{figure}: measured drift {measured:+.4f}, truth {expected:+.4f}, injected {INJECTED[figure]:+.4f}"
    )
    assert measured == pytest.approx(expected, abs=TOLERANCE[figure])
    assert np.sign(measured) == np.sign(INJECTED[figure])
    baseline = Baseline.from_minutes(minutes)
    assert baseline is not None and abs(measured) > baseline.band(figure)  # beyond the baseline's spread
    assert rows.loc[last, f"{figure}_drift_flag"].sum() >= 2  # and flagged in most of the last minutes
