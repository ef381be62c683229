"""The live analysis: sample blocks in, the research tables' rows out as they become final, into the state.

One path for live, replay and batch: every block goes through :class:`imu.gait.pipeline.GaitPipeline`
(the same code ``imu analyze`` runs over a whole recording), and the per-step, per-stride and per-minute
figures are :mod:`imu.aggregates`' own functions applied to the rows that are final, so a replayed
recording ends with the same steps and minutes as ``imu analyze`` (``tests/dashboard`` checks it).

A minute ``[t0 + 60 m, t0 + 60 (m + 1))`` is *closed* once the input has run :data:`STRIDE_REACH_S` past its
end (the last stride starting in it ends within two steps, each under 1 s) plus the pipeline's
``look_ahead_s``: by then every step and stride of it is final. Its row is then computed from the retained
steps and strides around it and handed to the :class:`imu.fatigue.FatigueTracker`. The minute's running
time comes from the bouts; the bout in progress (emitted only when it ends) is counted as running from the
end of the last emitted bout when its steps are running steps, a provisional figure that the end of the
run replaces by the final bout table (so the last minute table equals the batch one exactly).

Boundary checks as in ``imu analyze``: rows with a non-finite value are dropped (they become a gap) and
the remaining samples are numbered consecutively. Not done live: clipping detection (it needs the whole
recording's extremes), so ``impact_clipped`` is False here.

Rolling figures ("now"): the minute-row function over the last :data:`ROLLING_S` seconds of steps and
strides, compared with the baseline; recomputed at most every ``rolling_every_s`` of wall time.
"""

from __future__ import annotations

import time
from dataclasses import fields
from typing import Any

import numpy as np
import pandas as pd

from imu.aggregates import MINUTE_COLUMNS, MINUTE_S, minutes_frame, steps_frame, strides_frame
from imu.constants import STANDARD_GRAVITY_MS2
from imu.fatigue import DRIFT_COLUMNS, FIGURES, Baseline, FatigueSettings, FatigueTracker, with_drift
from imu.gait.bouts import RUNNING, BoutTable
from imu.gait.frame import Mounting
from imu.gait.pelvis import PelvisStrideTable
from imu.gait.pipeline import GaitPipeline, PipelineOutput, PipelineSettings, SmoothedSideTable, StepTable
from imu.samples import SampleBlock

STRIDE_REACH_S = 2.5
"""How far past a minute's end the last stride starting in it can end (two steps, each under 1 s)."""

CONTEXT_S = 5.0
"""Steps kept before the oldest open minute (a minute's first pair and stride reach back one step)."""

ROLLING_S = 60.0
"""The rolling window of the live "now" figures (s of recording time)."""

CONFIDENCE_EVERY_S = 2.0
"""How often (recording time) the frame confidence is logged for the dashboard."""

FIGURE_COLUMNS = [c for c in MINUTE_COLUMNS if c not in DRIFT_COLUMNS]

STATE_STEP_COLUMNS = ("t_s", "side", "impact_g", "contact_time_s")


def _running_bout(start_s: float, end_s: float) -> pd.DataFrame:
    return pd.DataFrame({"kind": [RUNNING], "start_t_s": [start_s], "end_t_s": [end_s]})


def _take_pelvis(table: PelvisStrideTable, keep: np.ndarray) -> PelvisStrideTable:
    return PelvisStrideTable(**{f.name: getattr(table, f.name)[keep] for f in fields(table)})


class LiveAnalysis:
    """Feed :class:`SampleBlock` s (``update``), then ``flush`` at the end; results go to ``state``.

    Results: ``minutes_`` the closed minute rows with drift (a DataFrame), ``steps_count_``; the state
    gets the trace, recent steps, minute rows, rolling figures and frame confidence.
    """

    def __init__(
        self,
        rate_hz: float,
        has_gyr: bool,
        state: Any,
        *,
        settings: PipelineSettings | None = None,
        mounting: Mounting | None = None,
        fatigue: FatigueSettings | None = None,
        baseline: Baseline | None = None,
        rolling_every_s: float = 0.5,
    ) -> None:
        self.pipeline = GaitPipeline(rate_hz, has_gyr, settings, mounting)
        self.rate_hz = float(rate_hz)
        self.state = state
        self.fatigue = FatigueTracker(fatigue, baseline)
        self._baseline_given = baseline is not None
        self.rolling_every_s = rolling_every_s
        self._close_lag = int(np.ceil(self.pipeline.smoothed_look_ahead_s * rate_hz)) + 1
        self._t0: float | None = None
        self._next_index = 0
        self._next_minute = 0  # the oldest minute not yet closed
        self._reach_index: dict[int, int] = {}  # minute -> first sample index past its end + reach
        self._steps_kept = steps_frame(StepTable.empty())  # retained steps ...
        self._new_steps: list[StepTable] = []  # ... and those not yet joined to them
        self._smoothed: list[SmoothedSideTable] = []  # smoothed sides not yet joined to their steps
        self._pelvis: list[PelvisStrideTable] = []
        self._bouts: list[pd.DataFrame] = []
        self._last_bout_end: tuple[int, float] | None = None  # (end_index, end_t_s) of the last bout
        self._recent_t: np.ndarray = np.empty(0)  # times of the last few seconds of samples
        self._recent_start = 0
        self._open_bout_running = False
        self._rows: list[pd.DataFrame] = []  # closed minute rows (figures only, provisional running_s)
        self._drift_rows: list[pd.DataFrame] = []
        self._next_confidence_t = -np.inf
        self._last_rolling = -np.inf
        self.steps_count_ = 0

    # ------------------------------------------------------------------ streaming
    def update(self, block: SampleBlock) -> None:
        """One block of sensor-frame samples (any size, consecutive in time)."""
        block = self._checked(block)
        if len(block) == 0:
            return
        if self._t0 is None:
            self._t0 = float(block.t_s[0])
        self._note_samples(block)
        self._absorb(self.pipeline.update(block))
        self._close_minutes(final=False)
        self._publish(force=False)

    def flush(self) -> None:
        """The end of the stream: the last steps, every minute closed, the minute table made final."""
        if self._t0 is None:
            return
        self._absorb(self.pipeline.flush())
        self._close_minutes(final=True)
        self._finalise_minutes()
        self._publish(force=True)

    @property
    def n_retained_steps_(self) -> int:
        """Steps held for open minutes and the rolling window (bounded: about two minutes of steps)."""
        return len(self._steps)

    @property
    def minutes_(self) -> pd.DataFrame:
        """Closed minute rows with drift, in the minutes table's columns."""
        if not self._drift_rows:
            return pd.DataFrame({c: pd.Series(dtype=d) for c, d in MINUTE_COLUMNS.items()})
        return pd.concat(self._drift_rows, ignore_index=True)[list(MINUTE_COLUMNS)].astype(MINUTE_COLUMNS)

    # ------------------------------------------------------------------ input
    def _checked(self, block: SampleBlock) -> SampleBlock:
        """Non-finite rows dropped (a gap) and the samples numbered consecutively, as ``imu analyze``."""
        ok = np.all(np.isfinite(block.acc), axis=1)
        if block.gyr is not None:
            ok &= np.all(np.isfinite(block.gyr), axis=1)
        gyr = None if block.gyr is None else block.gyr[ok]
        out = SampleBlock(block.t_s[ok], block.acc[ok], gyr, self._next_index)
        self._next_index += len(out)
        return out

    def _note_samples(self, block: SampleBlock) -> None:
        """Trace (vertical in g, by the frame in effect), sample times kept for bout starts, minute reach."""
        rotation = self.pipeline.frame.rotation_  # rows ap, v, ml; none yet: the magnitude
        vertical = block.acc @ rotation[1] if rotation is not None else np.linalg.norm(block.acc, axis=1)
        self.state.add_samples(block.t_s, vertical / STANDARD_GRAVITY_MS2)
        keep = round(30.0 * self.rate_hz)
        joined = np.concatenate([self._recent_t, block.t_s])
        self._recent_start += max(0, len(joined) - keep)
        self._recent_t = joined[-keep:]
        assert self._t0 is not None
        end_t = float(block.t_s[-1])
        m = max(self._next_minute, max(self._reach_index, default=-1) + 1)
        while self._t0 + MINUTE_S * (m + 1) + STRIDE_REACH_S <= end_t:
            reach_t = self._t0 + MINUTE_S * (m + 1) + STRIDE_REACH_S
            self._reach_index[m] = block.start_index + int(np.searchsorted(block.t_s, reach_t))
            m += 1
        if end_t >= self._next_confidence_t:
            self.state.add_confidence(end_t, self.pipeline.frame.confidence_)
            self._next_confidence_t = end_t + CONFIDENCE_EVERY_S

    def _time_of(self, index: int) -> float | None:
        k = index - self._recent_start
        return float(self._recent_t[k]) if 0 <= k < len(self._recent_t) else None

    # ------------------------------------------------------------------ pipeline output
    def _absorb(self, out: PipelineOutput) -> None:
        if len(out.bouts):
            bouts = out.bouts.to_frame()
            self._bouts.append(bouts)
            end_index = int(out.bouts.end_index[-1])
            start_t = self._time_of(end_index)
            self._last_bout_end = (
                end_index,
                float(bouts["end_t_s"].iloc[-1]) if start_t is None else start_t,
            )
            self._open_bout_running = False  # the bout now in progress: known from its first steps
        if len(out.strides):
            self._pelvis.append(out.strides)
        if len(out.smoothed_sides):
            self._smoothed.append(out.smoothed_sides)
        if len(out.steps) == 0:
            return
        steps = out.steps
        self._new_steps.append(steps)
        n_bouts = sum(len(b) for b in self._bouts)
        in_open = steps.gait[steps.bout == n_bouts]
        if len(in_open):
            self._open_bout_running = bool(in_open[-1] == RUNNING)
        self.steps_count_ += len(steps)
        run = steps.gait == RUNNING
        columns = [getattr(steps, c)[run].tolist() for c in STATE_STEP_COLUMNS]
        self.state.add_steps(
            [dict(zip(STATE_STEP_COLUMNS, v, strict=True)) for v in zip(*columns, strict=True)],
            int(run.sum()),
        )

    # ------------------------------------------------------------------ minutes
    def _close_minutes(self, *, final: bool) -> None:
        assert self._t0 is not None
        last_minute = -1
        if final and len(self._steps):
            last_minute = int((float(self._steps["t_s"].max()) - self._t0) // MINUTE_S)
        if final:
            for bouts in self._bouts:
                run = bouts[bouts["kind"] == RUNNING]
                if len(run):
                    last_minute = max(last_minute, int((float(run["end_t_s"].max()) - self._t0) // MINUTE_S))
        rows = []
        while True:
            m = self._next_minute
            reach = self._reach_index.get(m)
            ready = reach is not None and self._next_index >= reach + self._close_lag
            if not (ready or (final and m <= last_minute)):
                break
            rows.append(self._minute_row(m))
            self._reach_index.pop(m, None)
            self._next_minute += 1
            self._trim()
        if rows:
            closed = pd.concat(rows, ignore_index=True)
            self._rows.append(closed)
            drifted = self.fatigue.update(closed[closed["running_s"] > 0])
            if len(drifted):
                self._drift_rows.append(drifted)
                self.state.add_minutes(self._records(drifted))

    def _minute_row(self, m: int) -> pd.DataFrame:
        """Minute ``m``'s row from the retained steps and strides, with its (provisional) running time."""
        assert self._t0 is not None
        start = self._t0 + MINUTE_S * m
        row = self._window_row(start, self._t0)
        row["running_s"] = self._running_s(start, start + MINUTE_S)
        return row

    @property
    def _steps(self) -> pd.DataFrame:
        """The retained steps as the steps table (joined on demand: once per use, not per block)."""
        if self._new_steps:
            new = steps_frame(StepTable.concat(self._new_steps))
            self._new_steps = []
            self._steps_kept = (
                pd.concat([self._steps_kept, new], ignore_index=True) if len(self._steps_kept) else new
            )
        if self._smoothed:  # smoothed sides come a few steps after their rows: fill them in
            smoothed = SmoothedSideTable.concat(self._smoothed)
            self._smoothed = []
            at = pd.Index(self._steps_kept["ic_index"]).get_indexer(smoothed.ic_index)
            ok = at >= 0
            rows = self._steps_kept.index[at[ok]]
            for name in ("side_smoothed", "side_smoothed_confidence"):
                self._steps_kept.loc[rows, name] = getattr(smoothed, name)[ok]
        return self._steps_kept

    def _window_row(self, start_s: float, t0_s: float) -> pd.DataFrame:
        """The minute-row figures of the steps and strides in ``[start_s, start_s + 60)``."""
        t = self._steps["t_s"].to_numpy(float)
        near = (t >= start_s - CONTEXT_S) & (t < start_s + MINUTE_S + STRIDE_REACH_S + CONTEXT_S)
        steps = self._steps[near].reset_index(drop=True)
        strides = strides_frame(steps, PelvisStrideTable.concat(self._pelvis) if self._pelvis else None)
        rows = minutes_frame(steps, strides, _running_bout(start_s, start_s + 1.0), t0_s)
        return rows[rows["t_start_s"] == start_s][FIGURE_COLUMNS].reset_index(drop=True)

    def _running_s(self, start_s: float, end_s: float) -> float:
        """Seconds of running in ``[start_s, end_s)``: emitted running bouts, plus the bout in progress."""
        total = 0.0
        for bouts in self._bouts:
            run = bouts[bouts["kind"] == RUNNING]
            a = np.minimum(run["end_t_s"].to_numpy(float), end_s) - np.maximum(run["start_t_s"], start_s)
            total += float(np.clip(a, 0.0, None).sum())
        if self._open_bout_running:
            assert self._t0 is not None
            open_start = self._t0 if self._last_bout_end is None else self._last_bout_end[1]
            total += max(0.0, end_s - max(open_start, start_s))
        return total

    def _trim(self) -> None:
        """Forget steps and strides no open minute or rolling window needs (bounded memory)."""
        assert self._t0 is not None
        newest = float(self._steps["t_s"].iloc[-1]) if len(self._steps) else -np.inf
        keep_from = min(self._t0 + MINUTE_S * self._next_minute, newest - ROLLING_S) - CONTEXT_S
        keep = self._steps["t_s"].to_numpy(float) >= keep_from
        if keep.all():
            return
        kept = self._steps[keep].reset_index(drop=True)
        self._steps_kept = kept
        first = int(kept["ic_index"].iloc[0]) if len(kept) else self._next_index
        pelvis = PelvisStrideTable.concat(self._pelvis) if self._pelvis else None
        self._pelvis = [] if pelvis is None else [_take_pelvis(pelvis, pelvis.start_index >= first)]
        if len(self._bouts) > 1:  # the bout table is small (one row per bout): joined, never trimmed
            self._bouts = [pd.concat(self._bouts, ignore_index=True)]

    def _finalise_minutes(self) -> None:
        """Minute rows with the final bout table's running time: the batch minutes table, exactly."""
        assert self._t0 is not None
        bouts = pd.concat(self._bouts, ignore_index=True) if self._bouts else BoutTable.empty().to_frame()
        empty_steps = steps_frame(StepTable.empty())
        final = minutes_frame(empty_steps, strides_frame(empty_steps), bouts, self._t0)
        final = final[["t_start_s", "running_s"]]
        closed = (
            pd.concat(self._rows, ignore_index=True)
            if self._rows
            else pd.DataFrame({c: pd.Series(dtype=MINUTE_COLUMNS[c]) for c in FIGURE_COLUMNS})
        )
        figures = closed.drop(columns=["running_s"]).drop_duplicates("t_start_s")
        table = final.merge(figures, on="t_start_s", how="left")
        table["n_steps"] = table["n_steps"].fillna(0)
        for c in ("n_pairs", "n_unsure_sides", "n_clipped_impacts", "n_strides"):
            table[c] = table[c].fillna(0)
        table = table[FIGURE_COLUMNS].astype({c: MINUTE_COLUMNS[c] for c in FIGURE_COLUMNS})
        settings = self.fatigue.settings
        stated = self.fatigue.baseline_ if self._baseline_given else None
        drifted = with_drift(table, settings, stated)
        self._drift_rows = [drifted]
        if stated is None:
            self.fatigue.baseline_ = Baseline.from_minutes(table, settings)
        self.state.replace_minutes(self._records(drifted))

    # ------------------------------------------------------------------ publishing
    @staticmethod
    def _records(rows: pd.DataFrame) -> list[dict[str, Any]]:
        return [
            {str(k): (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()}
            for r in rows.to_dict("records")
        ]

    def _publish(self, *, force: bool) -> None:
        """Rolling figures and their drift into the state (at most every ``rolling_every_s`` wall time)."""
        now = time.monotonic()
        if not force and now - self._last_rolling < self.rolling_every_s:
            return
        self._last_rolling = now
        current: dict[str, Any] = {}
        if len(self._steps):
            end = float(self._steps["t_s"].iloc[-1])
            start = end - ROLLING_S + 1e-9
            row = self._window_row(start, start)
            if len(row):
                current = {str(k): v for k, v in row.iloc[0].to_dict().items()}
                recent = self._steps[(self._steps["t_s"] >= start) & (self._steps["gait"] == RUNNING)]
                for side in ("L", "R"):
                    current[f"impact_{side}_g"] = float(recent.loc[recent["side"] == side, "impact_g"].mean())
        baseline = self.fatigue.baseline_
        if baseline is not None and current:
            drifted = {
                str(k): v for k, v in baseline.drift(pd.DataFrame([current])).iloc[0].to_dict().items()
            }
            current.update({k: v for k, v in drifted.items() if k.endswith(("_drift", "_drift_flag"))})
        self.state.set_current(
            {k: (v.item() if isinstance(v, np.generic) else v) for k, v in current.items()},
            None if baseline is None else _baseline_dict(baseline),
            None if baseline is not None else self._baseline_eta_s(),
        )

    def _baseline_eta_s(self) -> float | None:
        """Seconds of recording until the baseline is complete (None before running starts)."""
        if self._t0 is None:
            return None
        s = self.fatigue.settings
        rows = pd.concat(self._rows, ignore_index=True) if self._rows else None
        counted = 0 if rows is None else int((rows["running_s"] >= s.min_running_s).sum())
        still = max(1, s.warmup_minutes + s.baseline_minutes - counted)
        end_of_open = self._t0 + MINUTE_S * (self._next_minute + still)
        newest = float(self._recent_t[-1]) if len(self._recent_t) else self._t0
        return max(0.0, end_of_open - newest)


def _baseline_dict(baseline: Baseline) -> dict[str, Any]:
    return {
        "t_start_s": list(baseline.t_start_s),
        **{f: {"mean": baseline.mean[f], "sd": baseline.sd[f], "band": baseline.band(f)} for f in FIGURES},
    }
