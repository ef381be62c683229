"""The data model: blocks of samples, gaps, and a whole recording.

A :class:`SampleBlock` is a contiguous chunk of samples as they flow from a link (or a file) to the
pipeline stages: ``t_s`` (N,) seconds on the recording's own time axis, ``acc`` (N, 3) m/s² including
gravity, ``gyr`` (N, 3) deg/s or ``None`` when the sensor has no gyroscope, all in the sensor frame
(columns :data:`imu.constants.SENSOR_COLUMNS`). ``start_index`` is the absolute index of the block's first
sample in its recording, so events can carry absolute sample indices.

Lost samples are never spread over: a gap is simply a longer interval in ``t_s``. :func:`find_gaps`
marks every interval longer than :data:`imu.constants.GAP_FACTOR` nominal periods.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from imu.constants import (
    GAP_FACTOR,
    PLAUSIBLE_ACC_LIMIT_MS2,
    PLAUSIBLE_GYR_LIMIT_DPS,
    SENSOR_ACC_COLUMNS,
    SENSOR_GYR_COLUMNS,
    STANDARD_GRAVITY_MS2,
    TIME_COLUMN,
)
from imu.errors import InputError

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class TimedBlock:
    """Contiguous samples: ``t_s`` (N,), ``acc`` (N, 3), ``gyr`` (N, 3) or ``None``, ``start_index``.

    The shared shape of :class:`SampleBlock` (sensor frame) and :class:`imu.gait.body_block.BodyBlock`
    (body frame): validation at the boundary, slicing and chunking with absolute indices. The two are
    separate types so a sensor-frame block can never reach a stage that assumes the vertical axis is known.
    """

    t_s: FloatArray
    acc: FloatArray
    gyr: FloatArray | None = None
    start_index: int = 0

    def __post_init__(self) -> None:
        t = np.ascontiguousarray(self.t_s, dtype=np.float64)
        acc = np.ascontiguousarray(self.acc, dtype=np.float64)
        if t.ndim != 1:
            raise InputError("time must be one-dimensional", expected="shape (N,)", found=f"shape {t.shape}")
        n = t.shape[0]
        if acc.shape != (n, 3):
            raise InputError("acceleration has the wrong shape", expected=f"({n}, 3)", found=str(acc.shape))
        gyr = None
        if self.gyr is not None:
            gyr = np.ascontiguousarray(self.gyr, dtype=np.float64)
            if gyr.shape != (n, 3):
                raise InputError(
                    "angular rate has the wrong shape", expected=f"({n}, 3)", found=str(gyr.shape)
                )
        if n and not np.all(np.isfinite(t)):
            raise InputError("time contains NaN or infinity", expected="finite seconds")
        if n > 1 and not np.all(np.diff(t) > 0):
            i = int(np.argmax(np.diff(t) <= 0))
            raise InputError(
                "time must increase strictly",
                expected=f"t[{i + 1}] > t[{i}]",
                found=f"{t[i + 1]!r} after {t[i]!r}",
            )
        object.__setattr__(self, "t_s", t)
        object.__setattr__(self, "acc", acc)
        object.__setattr__(self, "gyr", gyr)
        object.__setattr__(self, "start_index", int(self.start_index))

    def __len__(self) -> int:
        return int(self.t_s.shape[0])

    @property
    def has_gyr(self) -> bool:
        return self.gyr is not None

    @property
    def stop_index(self) -> int:
        """Absolute index one past the block's last sample."""
        return self.start_index + len(self)

    def slice(self, start: int, stop: int) -> Self:
        """Samples ``[start, stop)`` counted within this block."""
        return type(self)(
            self.t_s[start:stop],
            self.acc[start:stop],
            None if self.gyr is None else self.gyr[start:stop],
            self.start_index + max(0, min(start, len(self))),
        )

    def chunks(self, sizes: Iterable[int]) -> Iterator[Self]:
        """Cut into consecutive blocks of the given sizes (the rest as a last block)."""
        i = 0
        for size in sizes:
            yield self.slice(i, i + size)
            i += size
        if i < len(self):
            yield self.slice(i, len(self))


@dataclass(frozen=True, eq=False)
class SampleBlock(TimedBlock):
    """A contiguous chunk of sensor-frame samples (see the module docstring for units and frames)."""

    # ------------------------------------------------------------------ construction
    @classmethod
    def empty(cls, *, has_gyr: bool = True, start_index: int = 0) -> SampleBlock:
        """A typed empty block."""
        return cls(
            np.empty(0),
            np.empty((0, 3)),
            np.empty((0, 3)) if has_gyr else None,
            start_index,
        )

    @classmethod
    def concat(cls, blocks: Iterable[SampleBlock]) -> SampleBlock:
        """Join consecutive blocks (all with or all without gyroscope) into one."""
        parts = list(blocks)
        if not parts:
            return cls.empty()
        has_gyr = parts[0].has_gyr
        if any(b.has_gyr != has_gyr for b in parts):
            raise InputError("cannot join blocks with and without angular rate")
        return cls(
            np.concatenate([b.t_s for b in parts]),
            np.concatenate([b.acc for b in parts]),
            np.concatenate([b.gyr for b in parts if b.gyr is not None]) if has_gyr else None,
            parts[0].start_index,
        )

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, *, where: str | None = None) -> SampleBlock:
        """Build from a table with ``t_s``, the three ``acc_*`` and optionally the ``gyr_*`` columns."""
        missing = [c for c in (TIME_COLUMN, *SENSOR_ACC_COLUMNS) if c not in frame.columns]
        if missing:
            raise InputError(
                "missing columns",
                expected=", ".join((TIME_COLUMN, *SENSOR_ACC_COLUMNS)),
                found=", ".join(map(str, frame.columns)) or "no columns",
                where=where,
            )
        gyr_present = [c in frame.columns for c in SENSOR_GYR_COLUMNS]
        if any(gyr_present) and not all(gyr_present):
            raise InputError(
                "incomplete gyroscope columns",
                expected="all of gyr_x, gyr_y, gyr_z or none",
                found=", ".join(c for c in SENSOR_GYR_COLUMNS if c in frame.columns),
                where=where,
            )
        gyr = frame[list(SENSOR_GYR_COLUMNS)].to_numpy(np.float64) if all(gyr_present) else None
        return cls(
            frame[TIME_COLUMN].to_numpy(np.float64),
            frame[list(SENSOR_ACC_COLUMNS)].to_numpy(np.float64),
            gyr,
        )

    # ------------------------------------------------------------------ access
    def to_frame(self) -> pd.DataFrame:
        data: dict[str, Any] = {TIME_COLUMN: self.t_s}
        for j, c in enumerate(SENSOR_ACC_COLUMNS):
            data[c] = self.acc[:, j]
        if self.gyr is not None:
            for j, c in enumerate(SENSOR_GYR_COLUMNS):
                data[c] = self.gyr[:, j]
        return pd.DataFrame(data)


@dataclass(frozen=True)
class Gap:
    """Samples missing between ``index - 1`` and ``index`` (absolute indices)."""

    index: int
    t_start_s: float
    t_end_s: float
    missing_samples: int

    @property
    def duration_s(self) -> float:
        return self.t_end_s - self.t_start_s


def nominal_rate_hz(t_s: FloatArray) -> float:
    """The sampling rate from the median sample interval (robust to gaps and jitter); NaN if < 2 samples."""
    if t_s.shape[0] < 2:
        return float("nan")
    return float(1.0 / np.median(np.diff(t_s)))


def find_gaps(t_s: FloatArray, rate_hz: float, *, start_index: int = 0) -> list[Gap]:
    """Every interval longer than :data:`GAP_FACTOR` nominal periods."""
    if t_s.shape[0] < 2 or not np.isfinite(rate_hz) or rate_hz <= 0:
        return []
    dt = np.diff(t_s)
    period = 1.0 / rate_hz
    idx = np.flatnonzero(dt > GAP_FACTOR * period)
    return [
        Gap(
            index=start_index + int(i) + 1,
            t_start_s=float(t_s[i]),
            t_end_s=float(t_s[i + 1]),
            missing_samples=max(1, round(dt[i] * rate_hz) - 1),
        )
        for i in idx
    ]


@dataclass
class Recording:
    """A whole recording: its samples, nominal rate and what is known about where it came from.

    ``meta`` holds free-form provenance (device, firmware, mounting, start time in UTC, source file,
    licence); ``truth`` may hold ground-truth tables keyed by name (e.g. ``"contacts"``) when the source
    has them.
    """

    samples: SampleBlock
    rate_hz: float
    source: str
    meta: dict[str, Any] = field(default_factory=dict)
    truth: dict[str, pd.DataFrame] = field(default_factory=dict)

    @classmethod
    def from_samples(
        cls,
        samples: SampleBlock,
        source: str,
        *,
        rate_hz: float | None = None,
        meta: Mapping[str, Any] | None = None,
        truth: Mapping[str, pd.DataFrame] | None = None,
    ) -> Recording:
        rate = nominal_rate_hz(samples.t_s) if rate_hz is None else float(rate_hz)
        return cls(samples, rate, source, dict(meta or {}), dict(truth or {}))

    @property
    def duration_s(self) -> float:
        t = self.samples.t_s
        return float(t[-1] - t[0]) if t.shape[0] else 0.0

    def gaps(self) -> list[Gap]:
        return find_gaps(self.samples.t_s, self.rate_hz, start_index=self.samples.start_index)

    def check_units(self) -> None:
        """Raise if the magnitudes cannot be m/s² and deg/s (e.g. g, mg, rad/s or raw counts)."""
        check_units(self.samples, where=self.source)


def row_norms(xyz: NDArray[np.float64]) -> NDArray[np.float64]:
    """(N,) Euclidean norm of each row of an (N, 3) array, bit for bit ``np.linalg.norm(xyz, axis=1)``
    (the same squares added in the same order) at about a third of its cost: no (N, 3) temporary and no
    reduction along the short axis."""
    squares = xyz[:, 0] * xyz[:, 0]
    squares += xyz[:, 1] * xyz[:, 1]
    squares += xyz[:, 2] * xyz[:, 2]
    out: NDArray[np.float64] = np.sqrt(squares, out=squares)
    return out


def check_units(block: SampleBlock, *, where: str | None = None) -> None:
    """Raise :class:`InputError` when a block's magnitudes cannot be m/s² and deg/s.

    Acceleration whose median magnitude is far from 1 g (a body-worn sensor spends most of its time near
    1 g) is in the wrong unit: ≈ 1 means g, ≈ 1000 means mg, ≫ 50 g means raw counts.
    """
    if len(block) == 0:
        return
    norm = row_norms(block.acc)
    median_g = float(np.nanmedian(norm)) / STANDARD_GRAVITY_MS2 if np.any(np.isfinite(norm)) else float("nan")
    if np.isfinite(median_g) and not 0.3 < median_g < 3.0:
        hint = " (looks like g)" if 0.3 < median_g * STANDARD_GRAVITY_MS2 < 3.0 else ""
        raise InputError(
            "acceleration is not in m/s² including gravity",
            expected="a median magnitude near 9.81 m/s² (1 g)",
            found=f"{median_g * STANDARD_GRAVITY_MS2:.4g} m/s²{hint}",
            where=where,
        )
    peak = float(np.nanmax(np.abs(block.acc))) if np.any(np.isfinite(block.acc)) else 0.0
    if peak > PLAUSIBLE_ACC_LIMIT_MS2:
        raise InputError(
            "acceleration beyond any body-worn sensor's range",
            expected=f"|acc| ≤ {PLAUSIBLE_ACC_LIMIT_MS2:.0f} m/s²",
            found=f"{peak:.4g} m/s²",
            where=where,
        )
    if block.gyr is not None and np.any(np.isfinite(block.gyr)):
        gpeak = float(np.nanmax(np.abs(block.gyr)))
        if gpeak > PLAUSIBLE_GYR_LIMIT_DPS:
            raise InputError(
                "angular rate beyond any consumer gyroscope's range",
                expected=f"|gyr| ≤ {PLAUSIBLE_GYR_LIMIT_DPS:.0f} deg/s",
                found=f"{gpeak:.4g} deg/s",
                where=where,
            )
