"""The research tables: steps, strides, minutes and the session summary, from the pipeline's final rows.

Two sides per step (:mod:`imu.gait.pipeline`): ``side`` is the **live** side, final with the step's row
within 0.5 s of the contact (past-heavy evidence, forward-only alternation model: what a live display can
show at once); ``side_smoothed`` is the **smoothed** side, final a few steps later (two strides of
evidence around the step and forward–backward over its neighbours: fewer unsure and fewer wrong sides).
Every left/right figure of these tables (impact asymmetry, contact-time balance, the strides' ``side``,
``n_unsure_sides``) uses ``side_smoothed`` (:data:`RESEARCH_SIDE`); the functions take ``side=`` to read
another column, e.g. the live side where the smoothed one is not final yet.

Left/right comparisons (impact asymmetry, contact-time balance) are made only between *consecutive* steps
of one bout whose sides are both sure and opposite (a pair ``L R`` or ``R L``; pairs overlap, so each step
takes part in up to two), never between steps far apart in time, so a drift of the whole gait (fatigue,
slope, speed) does not leak into the left/right difference. Per pair::

    impact_asymmetry_pct     = 100 · (impact_L − impact_R) / ((impact_L + impact_R) / 2)   (+: left harder)
    contact_time_balance_pct = 100 · (contact_L − contact_R) / ((contact_L + contact_R) / 2) (+: left longer)

A minute's (or the session's) figure is the mean of its pair values; a pair belongs to the minute of its
second step. Steps whose side is unsure (``?``) break pairs and are counted (``n_unsure_sides``); an impact
flagged as clipped at the sensor's range is left out of the impact comparison.

Minutes are consecutive 60 s windows of the recording's time axis from its first sample
(``t_start_s = t0 + 60 k``); a minute gets a row when it holds running (``running_s`` > 0). Per-step figures
of a minute are means over its running steps (steps of walking bouts are in the steps table but not in
running figures). Pelvis figures use settled strides of running bouts that start in the minute:
``tilt_mean_deg``, ``tilt_rom_deg``, ``obliquity_rom_deg``, ``rotation_rom_deg`` are means over strides and
``tilt_rom_sd_deg`` the stride-to-stride standard deviation (ddof 1) of the tilt ROM, computed over the
non-overlapping strides of each parity (strides start on every step, so consecutive strides share one)
and averaged over the two parities.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from imu.fatigue import DRIFT_COLUMNS, with_drift
from imu.gait.bouts import RUNNING
from imu.gait.pelvis import PelvisStrideTable
from imu.gait.pipeline import SmoothedSideTable, StepTable

MINUTE_S = 60.0

RESEARCH_SIDE = "side_smoothed"
"""The side column the research figures read (see the module docstring)."""

STEP_COLUMNS: dict[str, str] = {
    "t_s": "float64",
    "side": "object",
    "contact_time_s": "float64",
    "impact_g": "float64",
    "side_smoothed": "object",
    "side_smoothed_confidence": "float64",
    "side_confidence": "float64",
    "to_t_s": "float64",
    "flight_time_s": "float64",
    "step_time_s": "float64",
    "cadence_spm": "float64",
    "loading_rate_g_s": "float64",
    "impact_clipped": "bool",
    "gait": "object",
    "bout": "int64",
    "frame_confidence": "float64",
    "p_right": "float64",
    "ic_index": "int64",
    "to_index": "int64",
}
"""``steps.csv``: the contract's first four columns, then the rest (units in the names). ``side`` (with
``side_confidence``, ``p_right``) is the live side, ``side_smoothed`` (with ``side_smoothed_confidence``)
the smoothed one that the research figures use; both are ``L``, ``R`` or ``?`` (unsure)."""

PELVIS_COLUMNS = (
    "settled",
    "frame_epoch",
    "tilt_mean_deg",
    "tilt_rom_deg",
    "obliquity_mean_deg",
    "obliquity_rom_deg",
    "rotation_rom_deg",
    "tilt_mean_sd_deg",
    "tilt_rom_sd_deg",
    "tilt_rom_cv_pct",
)

STRIDE_COLUMNS: dict[str, str] = {
    "t_start_s": "float64",
    "t_end_s": "float64",
    "side": "object",
    "stride_time_s": "float64",
    "cadence_spm": "float64",
    "gait": "object",
    "bout": "int64",
    "parity": "int64",
    "start_index": "int64",
    "end_index": "int64",
    **{
        c: ("bool" if c == "settled" else "int64" if c == "frame_epoch" else "float64")
        for c in PELVIS_COLUMNS
    },
}
"""``strides.csv``: two consecutive chained steps ``k-2 → k`` (strides start on every step, as the pelvis
stage's), with the pelvis figures when a gyroscope was present. ``side`` is the first step's side (its
``side_smoothed`` in the research tables)."""

MINUTE_COLUMNS: dict[str, str] = {
    "t_start_s": "float64",
    "cadence_spm": "float64",
    "contact_time_s": "float64",
    "impact_asymmetry_pct": "float64",
    "tilt_mean_deg": "float64",
    "tilt_rom_deg": "float64",
    "tilt_rom_sd_deg": "float64",
    "obliquity_rom_deg": "float64",
    "rotation_rom_deg": "float64",
    "contact_time_balance_pct": "float64",
    "impact_g": "float64",
    "loading_rate_g_s": "float64",
    "flight_time_s": "float64",
    "running_s": "float64",
    "n_steps": "int64",
    "n_pairs": "int64",
    "n_unsure_sides": "int64",
    "n_clipped_impacts": "int64",
    "n_strides": "int64",
    **DRIFT_COLUMNS,
}
"""``minutes.csv``: the contract's first seven columns, then the rest; last the drift from the runner's
baseline (:mod:`imu.fatigue`)."""


def _typed(frame: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    """The columns in contract order with their dtypes (a header-only frame when there are no rows)."""
    out = pd.DataFrame({c: frame[c] if c in frame else pd.Series(dtype=d) for c, d in columns.items()})
    retype = {c: d for c, d in columns.items() if out[c].dtype != d}  # casting each column costs ~0.2 ms
    return (out.astype(retype) if retype else out).reset_index(drop=True)


def relative_difference_pct(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """``100 · (L − R) / ((L + R) / 2)``: positive when the left value is larger."""
    with np.errstate(invalid="ignore", divide="ignore"):
        out: np.ndarray = 100.0 * (left - right) / ((left + right) / 2.0)
    return out


# ---------------------------------------------------------------------------------------------- steps
def steps_frame(
    steps: StepTable, clipped: np.ndarray | None = None, smoothed: SmoothedSideTable | None = None
) -> pd.DataFrame:
    """The steps table; ``clipped`` marks impacts measured while the sensor was at its range; ``smoothed``
    (the pipeline's smoothed sides, joined by ``ic_index``) fills ``side_smoothed``, which is ``?`` (with a
    NaN confidence) for steps it does not cover."""
    frame = steps.to_frame()
    frame["impact_clipped"] = np.zeros(len(frame), bool) if clipped is None else np.asarray(clipped, bool)
    frame["side_smoothed"], frame["side_smoothed_confidence"] = "?", np.nan
    if smoothed is not None and len(smoothed) and len(frame):
        k = np.searchsorted(smoothed.ic_index, steps.ic_index)
        kc = np.minimum(k, len(smoothed) - 1)
        found = (k < len(smoothed)) & (smoothed.ic_index[kc] == steps.ic_index)
        frame["side_smoothed"] = np.where(found, smoothed.side_smoothed[kc], "?").astype(object)
        frame["side_smoothed_confidence"] = np.where(found, smoothed.side_smoothed_confidence[kc], np.nan)
    return _typed(frame, STEP_COLUMNS)


def step_pairs(steps: pd.DataFrame, side: str = RESEARCH_SIDE) -> pd.DataFrame:
    """Consecutive running steps of one bout with sure, opposite sides (column ``side``; ``"side"`` when the
    frame has no such column, e.g. a ground-truth table): per-pair left/right figures."""
    side = side if side in steps.columns else "side"
    running = steps[steps["gait"] == RUNNING]
    prev, cur = running.iloc[:-1].reset_index(drop=True), running.iloc[1:].reset_index(drop=True)
    sure = prev[side].isin(("L", "R")) & cur[side].isin(("L", "R"))
    ok = (prev["bout"] == cur["bout"]) & sure & (prev[side] != cur[side])
    prev, cur = prev[ok], cur[ok]
    left_first = (prev[side] == "L").to_numpy()

    def by_side(name: str) -> tuple[np.ndarray, np.ndarray]:
        a, b = prev[name].to_numpy(float), cur[name].to_numpy(float)
        return np.where(left_first, a, b), np.where(left_first, b, a)

    impact_l, impact_r = by_side("impact_g")
    clip_l, clip_r = by_side("impact_clipped")
    contact_l, contact_r = by_side("contact_time_s")
    impact = relative_difference_pct(impact_l, impact_r)
    impact[(clip_l > 0) | (clip_r > 0)] = np.nan
    return pd.DataFrame(
        {
            "t_s": cur["t_s"].to_numpy(float),
            "impact_asymmetry_pct": impact,
            "contact_time_balance_pct": relative_difference_pct(contact_l, contact_r),
        }
    )


# ---------------------------------------------------------------------------------------------- strides
def strides_frame(
    steps: pd.DataFrame, pelvis: PelvisStrideTable | None = None, side: str = RESEARCH_SIDE
) -> pd.DataFrame:
    """Strides ``k-2 → k`` over chained steps of one bout, joined with the pelvis rows by their indices;
    ``side`` is the first step's (column ``side`` of the steps)."""
    s = steps.reset_index(drop=True)
    n = len(s)
    if n >= 3:
        first, mid, last = s.iloc[: n - 2], s.iloc[1 : n - 1], s.iloc[2:]
        chained = (
            np.isfinite(mid["step_time_s"].to_numpy(float))
            & np.isfinite(last["step_time_s"].to_numpy(float))
            & (first["bout"].to_numpy() == last["bout"].to_numpy())
        )
        first, last = first[chained], last[chained]
        stride_s = last["t_s"].to_numpy(float) - first["t_s"].to_numpy(float)
        frame = pd.DataFrame(
            {
                "t_start_s": first["t_s"].to_numpy(float),
                "t_end_s": last["t_s"].to_numpy(float),
                "side": first[side].to_numpy(object),
                "stride_time_s": stride_s,
                "cadence_spm": 120.0 / stride_s,
                "gait": first["gait"].to_numpy(object),
                "bout": first["bout"].to_numpy(np.int64),
                "start_index": first["ic_index"].to_numpy(np.int64),
                "end_index": last["ic_index"].to_numpy(np.int64),
            }
        )
    else:
        frame = _typed(pd.DataFrame(), {c: STRIDE_COLUMNS[c] for c in list(STRIDE_COLUMNS)[:10]})
    if pelvis is not None and len(pelvis):
        angles = pelvis.to_frame()[["start_index", "end_index", "parity", *PELVIS_COLUMNS]]
        frame = frame.drop(columns=["parity"], errors="ignore").merge(
            angles, on=["start_index", "end_index"], how="left"
        )
        frame["settled"] = frame["settled"].fillna(False).astype(bool)
        frame["frame_epoch"] = frame["frame_epoch"].fillna(-1)
        frame["parity"] = frame["parity"].fillna(-1)
    else:
        frame["settled"] = False
        frame["frame_epoch"] = -1
        frame["parity"] = np.arange(len(frame)) % 2 if len(frame) else np.empty(0, np.int64)
    return _typed(frame, STRIDE_COLUMNS)


# ---------------------------------------------------------------------------------------------- minutes
def _running_seconds(bouts: pd.DataFrame, t0_s: float, n_minutes: int) -> np.ndarray:
    """Seconds of running bouts inside each minute window."""
    edges = t0_s + MINUTE_S * np.arange(n_minutes + 1)
    out = np.zeros(n_minutes)
    for start, end in bouts.loc[bouts["kind"] == RUNNING, ["start_t_s", "end_t_s"]].to_numpy(float):
        out += np.clip(np.minimum(edges[1:], end) - np.maximum(edges[:-1], start), 0.0, None)
    return out


def _mean(values: np.ndarray) -> float:
    """``Series.mean()`` of a float array, bit for bit (NaN skipped; NaN when nothing is left), without the
    per-call cost of pandas: the sum of the array with its NaNs as 0, over the count of the others."""
    missing = np.isnan(values)
    n = values.size - int(missing.sum())
    if n == 0:
        return float("nan")
    filled = np.where(missing, 0.0, values) if n < values.size else values
    return float(filled.sum(dtype=np.float64) / np.float64(n))


def _sd(values: np.ndarray) -> float:
    """``Series.std(ddof=1)`` of a float array, bit for bit (pandas' two passes, NaN skipped)."""
    missing = np.isnan(values)
    n = values.size - int(missing.sum())
    if n <= 1:
        return float("nan")
    filled = np.where(missing, 0.0, values)
    squares = (filled.sum(dtype=np.float64) / np.float64(n) - filled) ** 2
    squares[missing] = 0.0
    return float(np.sqrt(squares.sum(dtype=np.float64) / np.float64(n - 1)))


def _parity_sd(rom: np.ndarray, parity: np.ndarray) -> float:
    sds = [_sd(rom[parity == p]) for p in (0, 1) if int((parity == p).sum()) >= 2]
    return float(np.mean(sds)) if sds else float("nan")


class _ByMinute:
    """A table's numeric columns cut into the minutes of its time column (rows in their order): the
    per-minute loop then reads array slices instead of grouping DataFrames."""

    def __init__(self, frame: pd.DataFrame, t_s: str, t0_s: float, columns: dict[str, np.ndarray]) -> None:
        minute = ((frame[t_s].to_numpy(float) - t0_s) // MINUTE_S).astype(np.int64)
        order = np.argsort(minute, kind="stable")
        self._minute = minute[order]
        self._columns = {name: np.ascontiguousarray(values[order]) for name, values in columns.items()}

    def __call__(self, m: int) -> dict[str, np.ndarray]:
        lo, hi = np.searchsorted(self._minute, (m, m + 1))
        return {name: values[lo:hi] for name, values in self._columns.items()}


def minutes_frame(
    steps: pd.DataFrame, strides: pd.DataFrame, bouts: pd.DataFrame, t0_s: float, side: str = RESEARCH_SIDE
) -> pd.DataFrame:
    """One row per minute of running (see the module docstring for every figure); left/right figures from
    the steps' column ``side``."""
    running_bouts = bouts[bouts["kind"] == RUNNING]
    if len(running_bouts) == 0:
        return _typed(pd.DataFrame(), MINUTE_COLUMNS)
    n_minutes = int((float(running_bouts["end_t_s"].max()) - t0_s) // MINUTE_S) + 1
    running_s = _running_seconds(bouts, t0_s, n_minutes)

    run = steps[steps["gait"] == RUNNING]
    pairs = step_pairs(steps, side)
    good = strides[(strides["gait"] == RUNNING) & strides["settled"]]
    step_means = ("cadence_spm", "contact_time_s", "impact_g", "loading_rate_g_s", "flight_time_s")
    stride_means = ("tilt_mean_deg", "tilt_rom_deg", "obliquity_rom_deg", "rotation_rom_deg")
    step_minute = _ByMinute(
        run,
        "t_s",
        t0_s,
        {
            **{c: run[c].to_numpy(float) for c in step_means},
            "unsure": (run[side] == "?").to_numpy(bool),
            "clipped": run["impact_clipped"].to_numpy(bool),
        },
    )
    pair_minute = _ByMinute(
        pairs, "t_s", t0_s, {c: pairs[c].to_numpy(float) for c in pairs.columns if c != "t_s"}
    )
    stride_minute = _ByMinute(
        good,
        "t_start_s",
        t0_s,
        {**{c: good[c].to_numpy(float) for c in stride_means}, "parity": good["parity"].to_numpy(np.int64)},
    )
    rows = []
    for m in np.flatnonzero(running_s > 0).tolist():
        st, pr, sd = step_minute(m), pair_minute(m), stride_minute(m)
        rows.append(
            {
                "t_start_s": t0_s + MINUTE_S * m,
                "cadence_spm": _mean(st["cadence_spm"]),
                "contact_time_s": _mean(st["contact_time_s"]),
                "impact_asymmetry_pct": _mean(pr["impact_asymmetry_pct"]),
                "tilt_mean_deg": _mean(sd["tilt_mean_deg"]),
                "tilt_rom_deg": _mean(sd["tilt_rom_deg"]),
                "tilt_rom_sd_deg": _parity_sd(sd["tilt_rom_deg"], sd["parity"]),
                "obliquity_rom_deg": _mean(sd["obliquity_rom_deg"]),
                "rotation_rom_deg": _mean(sd["rotation_rom_deg"]),
                "contact_time_balance_pct": _mean(pr["contact_time_balance_pct"]),
                "impact_g": _mean(st["impact_g"]),
                "loading_rate_g_s": _mean(st["loading_rate_g_s"]),
                "flight_time_s": _mean(st["flight_time_s"]),
                "running_s": running_s[m],
                "n_steps": len(st["unsure"]),
                "n_pairs": int(np.count_nonzero(~np.isnan(pr["impact_asymmetry_pct"]))),
                "n_unsure_sides": int(st["unsure"].sum()),
                "n_clipped_impacts": int(st["clipped"].sum()),
                "n_strides": len(sd["parity"]),
            }
        )
    return _typed(with_drift(pd.DataFrame(rows)), MINUTE_COLUMNS)


# ---------------------------------------------------------------------------------------------- summary
def _finite(value: Any) -> float | None:
    """JSON-safe: NaN and infinity become null."""
    v = float(value)
    return v if np.isfinite(v) else None


def session_figures(
    steps: pd.DataFrame,
    strides: pd.DataFrame,
    minutes: pd.DataFrame,
    bouts: pd.DataFrame,
    side: str = RESEARCH_SIDE,
) -> dict[str, Any]:
    """Whole-session gait figures (means over running steps, pairs and settled running strides)."""
    run = steps[steps["gait"] == RUNNING]
    pairs = step_pairs(steps, side)
    good = strides[(strides["gait"] == RUNNING) & strides["settled"]]
    kinds = bouts.groupby("kind")["end_t_s"].sum() - bouts.groupby("kind")["start_t_s"].sum()
    return {
        "running_s": _finite(kinds.get(RUNNING, 0.0)),
        "walking_s": _finite(kinds.get("walking", 0.0)),
        "n_steps": len(steps),
        "n_running_steps": len(run),
        "n_unsure_sides": int((run[side] == "?").sum()),
        "n_pairs": int(pairs["impact_asymmetry_pct"].notna().sum()),
        "n_clipped_impacts": int(run["impact_clipped"].sum()),
        "n_strides": len(good),
        "n_minutes": len(minutes),
        "cadence_spm": _finite(run["cadence_spm"].mean()),
        "contact_time_s": _finite(run["contact_time_s"].mean()),
        "flight_time_s": _finite(run["flight_time_s"].mean()),
        "impact_g": _finite(run["impact_g"].mean()),
        "loading_rate_g_s": _finite(run["loading_rate_g_s"].mean()),
        "impact_asymmetry_pct": _finite(pairs["impact_asymmetry_pct"].mean()),
        "contact_time_balance_pct": _finite(pairs["contact_time_balance_pct"].mean()),
        "tilt_mean_deg": _finite(good["tilt_mean_deg"].mean()),
        "tilt_rom_deg": _finite(good["tilt_rom_deg"].mean()),
        "tilt_rom_sd_deg": _finite(minutes["tilt_rom_sd_deg"].mean()),
        "obliquity_rom_deg": _finite(good["obliquity_rom_deg"].mean()),
        "rotation_rom_deg": _finite(good["rotation_rom_deg"].mean()),
    }
