"""The research tables: left/right pairs, strides, minutes, typed empty outputs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from imu.aggregates import (
    MINUTE_COLUMNS,
    STEP_COLUMNS,
    STRIDE_COLUMNS,
    minutes_frame,
    relative_difference_pct,
    step_pairs,
    steps_frame,
    strides_frame,
)
from imu.gait.bouts import BoutTable
from imu.gait.pipeline import SmoothedSideTable, StepTable


def steps(
    sides: str,
    impacts: list[float],
    bouts: list[int] | None = None,
    step_s: float = 0.35,
    live: str | None = None,
) -> pd.DataFrame:
    """Running steps whose smoothed sides are ``sides`` (live sides ``live``, the same by default)."""
    n = len(sides)
    t = 1.0 + step_s * np.arange(n)
    bout = np.array(bouts if bouts is not None else [1] * n)
    first = np.concatenate([[True], bout[1:] != bout[:-1]])
    step = np.where(first, np.nan, step_s)
    rows: dict[str, Any] = {
        "ic_index": (t * 100).astype(np.int64),
        "t_s": t,
        "side": np.array(list(live if live is not None else sides)),
        "side_confidence": np.ones(n),
        "p_right": np.ones(n),
        "to_index": (t * 100 + 20).astype(np.int64),
        "to_t_s": t + 0.2,
        "contact_time_s": np.where(np.array(list(sides)) == "L", 0.22, 0.20),
        "flight_time_s": step - 0.2,
        "step_time_s": step,
        "cadence_spm": 60 / step,
        "impact_g": np.array(impacts, float),
        "loading_rate_g_s": np.full(n, 80.0),
        "bout": bout,
        "gait": np.full(n, "running"),
        "frame_confidence": np.ones(n),
    }
    smoothed = SmoothedSideTable(rows["ic_index"], np.array(list(sides)), np.ones(n), np.ones(n))
    return steps_frame(StepTable(**rows), smoothed=smoothed)


def test_asymmetry_is_positive_when_the_left_side_hits_harder() -> None:
    assert relative_difference_pct(np.array([2.2]), np.array([2.0]))[0] == pytest.approx(100 * 0.2 / 2.1)
    pairs = step_pairs(steps("LRLR", [2.2, 2.0, 2.2, 2.0]))
    assert len(pairs) == 3
    np.testing.assert_allclose(pairs["impact_asymmetry_pct"], 100 * 0.2 / 2.1)
    np.testing.assert_allclose(pairs["contact_time_balance_pct"], 100 * 0.02 / 0.21)


def test_figures_use_the_smoothed_side_unless_told_otherwise() -> None:
    table = steps("LRLR", [2.2, 2.0, 2.2, 2.0], live="L?RR")
    assert table["side"].tolist() == ["L", "?", "R", "R"] and table["side_smoothed"].tolist() == list("LRLR")
    assert len(step_pairs(table)) == 3 and len(step_pairs(table, side="side")) == 0
    assert strides_frame(table)["side"].tolist() == ["L", "R"]
    assert strides_frame(table, side="side")["side"].tolist() == ["L", "?"]


def test_steps_without_a_smoothed_side_say_unsure() -> None:
    table = steps("LRLR", [2.0] * 4)
    smoothed = SmoothedSideTable(
        table["ic_index"].to_numpy()[[0, 2]], np.array(["L", "L"]), np.full(2, 0.97), np.zeros(2)
    )
    columns = {c: table[c].to_numpy() for c in StepTable.DTYPES if c in table}
    columns["side"] = columns["side"].astype("<U1")
    joined = steps_frame(StepTable(**columns), smoothed=smoothed)
    assert joined["side_smoothed"].tolist() == ["L", "?", "L", "?"]
    np.testing.assert_array_equal(joined["side_smoothed_confidence"], [0.97, np.nan, 0.97, np.nan])
    assert (steps_frame(StepTable(**columns))["side_smoothed"] == "?").all()


def test_pairs_never_cross_a_bout_or_an_unsure_side() -> None:
    pairs = step_pairs(steps("LR?RLRL", [2.0] * 7, bouts=[1, 1, 1, 1, 1, 2, 2]))
    # L-R (0,1), R-L (3,4), R-L (5,6); (1,2), (2,3) unsure; (4,5) crosses bouts
    assert len(pairs) == 3


def test_clipped_impacts_leave_the_impact_comparison_only() -> None:
    table = steps("LRLR", [2.2, 2.0, 2.2, 2.0])
    table.loc[0, "impact_clipped"] = True
    pairs = step_pairs(table)
    assert np.isnan(pairs["impact_asymmetry_pct"].iloc[0]) and pairs["contact_time_balance_pct"].notna().all()


def test_strides_chain_within_bouts() -> None:
    strides = strides_frame(steps("LRLRLR", [2.0] * 6, bouts=[1, 1, 1, 2, 2, 2]))
    assert len(strides) == 2  # 0→2 and 3→5; none straddles the bout change
    assert strides["side"].tolist() == ["L", "R"]
    np.testing.assert_allclose(strides["cadence_spm"], 120 / 0.7)
    assert list(strides.columns) == list(STRIDE_COLUMNS)


def test_minutes_from_running_bouts() -> None:
    table = steps("LR" * 200, [2.2, 2.0] * 200)
    bouts = BoutTable.from_tuples([(0, 20000, 0.0, 150.0, "running", False)]).to_frame()
    minutes = minutes_frame(table, strides_frame(table), bouts, 0.0)
    assert minutes["t_start_s"].tolist() == [0.0, 60.0, 120.0]
    assert minutes["n_steps"].sum() == 400
    np.testing.assert_allclose(minutes["impact_asymmetry_pct"], 100 * 0.2 / 2.1)
    assert minutes["running_s"].tolist() == pytest.approx([60.0, 60.0, 30.0])
    assert minutes["tilt_mean_deg"].isna().all()  # no pelvis without a gyroscope


def test_empty_outputs_are_typed_with_the_contract_columns() -> None:
    empty_steps = steps_frame(StepTable.empty())
    assert list(empty_steps.columns)[:4] == ["t_s", "side", "contact_time_s", "impact_g"]
    assert dict(empty_steps.dtypes.astype(str)) == STEP_COLUMNS
    minutes = minutes_frame(empty_steps, strides_frame(empty_steps), BoutTable.empty().to_frame(), 0.0)
    assert list(minutes.columns)[:7] == [
        "t_start_s",
        "cadence_spm",
        "contact_time_s",
        "impact_asymmetry_pct",
        "tilt_mean_deg",
        "tilt_rom_deg",
        "tilt_rom_sd_deg",
    ]
    assert dict(minutes.dtypes.astype(str)) == MINUTE_COLUMNS and len(minutes) == 0
    assert dict(strides_frame(empty_steps).dtypes.astype(str)) == STRIDE_COLUMNS


def test_minute_means_equal_pandas_bit_for_bit() -> None:
    """The minute loop reads numpy slices; its figures must be bit for bit each minute's ``Series.mean()``
    (what the tables held before; pandas' groupby mean, which sums differently, would not pass)."""
    rng = np.random.default_rng(3)
    n = 1200
    table = steps("LR" * (n // 2), list(rng.normal(2.0, 0.3, n)), step_s=0.3)
    for column in ("cadence_spm", "contact_time_s", "impact_g", "loading_rate_g_s"):
        values = table[column].to_numpy(float) * rng.uniform(0.8, 1.2, n)
        values[rng.random(n) < 0.2] = np.nan
        table[column] = values
    table.loc[rng.random(n) < 0.1, "side_smoothed"] = "?"
    bouts = BoutTable.from_tuples([(0, 10**6, 0.0, 400.0, "running", False)]).to_frame()
    minutes = minutes_frame(table, strides_frame(table), bouts, 0.0)
    pairs = step_pairs(table)

    def means(values: pd.Series, t_s: pd.Series) -> pd.Series:
        """Each minute's ``Series.mean()``, as the tables' contract states the figures."""
        return pd.Series({k: group.mean() for k, group in values.groupby((t_s // 60.0).astype(int))})

    expected = {
        **{c: means(table[c], table["t_s"]) for c in ("cadence_spm", "contact_time_s", "impact_g")},
        **{c: means(pairs[c], pairs["t_s"]) for c in ("impact_asymmetry_pct", "contact_time_balance_pct")},
    }
    for column, by_minute in expected.items():
        got = minutes[column].to_numpy(float)
        want = by_minute.reindex(range(len(minutes))).to_numpy(float)
        assert got.tobytes() == want.tobytes(), column
