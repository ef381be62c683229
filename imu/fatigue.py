"""The runner's own fresh baseline, and how far each per-minute figure drifts from it as fatigue builds.

Why a personal baseline: running form differs a lot between runners (a 10° anterior tilt is normal for one
and a change for another), and a lower-back sensor's absolute angles depend on where it sits. What a
runner or a physio wants to see is *change*: how the form of this run drifts from how this runner ran
when fresh. Every figure is therefore compared with the same figure earlier in the same run (or in a
stated baseline session, :meth:`Baseline.from_minutes` on its minute table).

Baseline (defaults in :class:`FatigueSettings`): the per-minute rows of :mod:`imu.aggregates` in time
order; a minute *counts* when it holds at least ``min_running_s`` (30 s) of running. The first
``warmup_s`` (60 s → 1) counting minutes are the warm-up and are skipped (a runner settles into a rhythm,
and the body frame and pelvis attitude settle, during the first minute); the next ``baseline_s``
(180 s → 3) counting minutes are the baseline. Per figure it holds the mean and the minute-to-minute
standard deviation (ddof 1) of those minutes.

Drift: ``<figure>_drift = value − baseline mean``, in the figure's own unit (spm, s, g, percentage points
of asymmetry, degrees). It is *flagged* (``<figure>_drift_flag``) when ``|drift| > band`` with::

    band = max(flag_sd · baseline SD, floor)         flag_sd = 2

i.e. beyond the baseline's own minute-to-minute spread. The floor (:data:`FLOORS`, fixed a priori, not
fitted to any recording) is the smallest change shown as a flag: a standard deviation from three values
can be arbitrarily small by chance, and a change below the floor means little for running form (1 spm,
5 ms of contact, 0.05 g, 2 percentage points of asymmetry, 0.5° of an angle, 0.1° of stride-to-stride
SD). A figure the baseline lacks (e.g. pelvis angles without a gyroscope) has NaN drift and no flag.

Figures (:data:`FIGURES`): cadence, contact time, impact, impact asymmetry, mean pelvic tilt, tilt ROM,
its stride-to-stride variability (SD of the ROM), obliquity ROM and rotation ROM.

Streaming == batch: :class:`FatigueTracker` takes minute rows as they become final (``update``) and
returns them with their drift as soon as the baseline is complete (earlier rows are held until then);
``flush`` returns rows still held (baseline never completed) with NaN drift. :func:`with_drift` is the
same tracker over a whole table, so both give the same rows. The live dashboard also compares a rolling
window (the last 60 s) with the baseline through :meth:`Baseline.drift`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import pandas as pd

FIGURES = (
    "cadence_spm",
    "contact_time_s",
    "impact_g",
    "impact_asymmetry_pct",
    "tilt_mean_deg",
    "tilt_rom_deg",
    "tilt_rom_sd_deg",
    "obliquity_rom_deg",
    "rotation_rom_deg",
)
"""The per-minute figures whose drift is followed (column names of the minutes table)."""

FLOORS: Mapping[str, float] = MappingProxyType(
    {
        "cadence_spm": 1.0,
        "contact_time_s": 0.005,
        "impact_g": 0.05,
        "impact_asymmetry_pct": 2.0,
        "tilt_mean_deg": 0.5,
        "tilt_rom_deg": 0.5,
        "tilt_rom_sd_deg": 0.1,
        "obliquity_rom_deg": 0.5,
        "rotation_rom_deg": 0.5,
    }
)
"""Smallest drift flagged, per figure, in its unit (see the module docstring)."""

DRIFT_COLUMNS: dict[str, str] = {
    "baseline": "bool",
    **{f"{f}_drift": "float64" for f in FIGURES},
    **{f"{f}_drift_flag": "bool" for f in FIGURES},
}
"""Columns added to ``minutes.csv``: whether the minute is a baseline minute, each figure's drift from the
baseline mean (same unit as the figure), and whether that drift is beyond the band."""


@dataclass(frozen=True)
class FatigueSettings:
    """Which minutes make the baseline (seconds of running) and when a drift is flagged."""

    warmup_s: float = 60.0
    baseline_s: float = 180.0
    min_running_s: float = 30.0
    flag_sd: float = 2.0
    floors: Mapping[str, float] = field(default_factory=lambda: FLOORS)

    @property
    def warmup_minutes(self) -> int:
        return round(self.warmup_s / 60.0)

    @property
    def baseline_minutes(self) -> int:
        return max(1, round(self.baseline_s / 60.0))


@dataclass(frozen=True)
class Baseline:
    """Mean and minute-to-minute SD of each figure over the baseline minutes (``t_start_s`` of each)."""

    mean: Mapping[str, float]
    sd: Mapping[str, float]
    t_start_s: tuple[float, ...]
    settings: FatigueSettings = field(default_factory=FatigueSettings)

    @classmethod
    def from_minutes(cls, minutes: pd.DataFrame, settings: FatigueSettings | None = None) -> Baseline | None:
        """The baseline of a minutes table (this run's, or a stated baseline session's); None when the
        table does not yet hold warm-up plus baseline minutes."""
        s = settings or FatigueSettings()
        counting = minutes[minutes["running_s"].to_numpy(float) >= s.min_running_s]
        chosen = counting.iloc[s.warmup_minutes : s.warmup_minutes + s.baseline_minutes]
        if len(chosen) < s.baseline_minutes:
            return None
        values = {
            f: chosen[f].to_numpy(float) if f in chosen else np.full(len(chosen), np.nan) for f in FIGURES
        }
        return cls(
            mean={f: _nanmean(v) for f, v in values.items()},
            sd={f: _nansd(v) for f, v in values.items()},
            t_start_s=tuple(chosen["t_start_s"].to_numpy(float).tolist()),
            settings=s,
        )

    def band(self, figure: str) -> float:
        """How far a figure may drift before it is flagged (its unit): ``max(flag_sd · SD, floor)``."""
        sd = self.sd[figure]
        floor = float(self.settings.floors.get(figure, 0.0))
        return floor if not np.isfinite(sd) else max(self.settings.flag_sd * sd, floor)

    def drift(self, rows: pd.DataFrame) -> pd.DataFrame:
        """``rows`` (minute rows, or any rows with the figure columns) with :data:`DRIFT_COLUMNS` added."""
        n = len(rows)
        start = rows["t_start_s"] if "t_start_s" in rows else pd.Series(np.nan, index=rows.index)
        drift = {
            f: (rows[f].to_numpy(float) if f in rows else np.full(n, np.nan)) - self.mean[f] for f in FIGURES
        }
        with np.errstate(invalid="ignore"):
            flags = {f"{f}_drift_flag": np.abs(d) > self.band(f) for f, d in drift.items()}
        columns = {
            "baseline": start.isin(self.t_start_s).to_numpy(),
            **{f"{f}_drift": d for f, d in drift.items()},
        }
        return _with_columns(rows, {**columns, **flags})


def _nanmean(v: np.ndarray) -> float:
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else float("nan")


def _nansd(v: np.ndarray) -> float:
    v = v[np.isfinite(v)]
    return float(v.std(ddof=1)) if v.size >= 2 else float("nan")


def _with_columns(rows: pd.DataFrame, columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """``rows`` with ``columns`` added (replaced when present) in :data:`DRIFT_COLUMNS` order."""
    kept = rows.drop(columns=[c for c in DRIFT_COLUMNS if c in rows])
    added = pd.DataFrame({c: columns[c] for c in DRIFT_COLUMNS}, index=rows.index)
    return pd.concat([kept, added], axis=1)


def without_drift(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows with NaN drift and no flags (no baseline to compare with)."""
    n = len(rows)
    nan, no = np.full(n, np.nan), np.zeros(n, bool)
    return _with_columns(rows, {c: (no if d == "bool" else nan) for c, d in DRIFT_COLUMNS.items()})


class FatigueTracker:
    """Streaming drift: minute rows in (as they become final), rows with drift out.

    ``baseline``: a stated baseline (e.g. from another session); by default the run's own, found from the
    first rows (see the module docstring). ``baseline_`` is None until it is known.
    """

    def __init__(self, settings: FatigueSettings | None = None, baseline: Baseline | None = None) -> None:
        self.settings = settings or (baseline.settings if baseline is not None else FatigueSettings())
        self.baseline_ = baseline
        self._held: list[pd.DataFrame] = []

    def update(self, rows: pd.DataFrame) -> pd.DataFrame:
        """The given rows (and any held ones) with their drift, once the baseline is known; else empty."""
        if self.baseline_ is not None:
            return self.baseline_.drift(rows)
        self._held.append(rows)
        held = pd.concat(self._held, ignore_index=True)
        self.baseline_ = Baseline.from_minutes(held, self.settings)
        if self.baseline_ is None:
            return without_drift(rows.iloc[:0])
        self._held = []
        return self.baseline_.drift(held)

    def flush(self) -> pd.DataFrame:
        """Rows still held because the baseline never completed, with NaN drift."""
        held = pd.concat(self._held, ignore_index=True) if self._held else None
        self._held = []
        return without_drift(held) if held is not None else pd.DataFrame(columns=list(DRIFT_COLUMNS))


def with_drift(
    minutes: pd.DataFrame, settings: FatigueSettings | None = None, baseline: Baseline | None = None
) -> pd.DataFrame:
    """A whole minutes table with :data:`DRIFT_COLUMNS` (batch = the streaming tracker over all rows)."""
    tracker = FatigueTracker(settings, baseline)
    parts = [tracker.update(minutes), tracker.flush()]
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else without_drift(minutes)
