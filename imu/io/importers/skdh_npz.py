"""NumPy ``.npz`` in scikit-digital-health's input layout: ``time`` (unix s), ``accel`` (g), ``gyro``.

The layout is skdh's ``predict(time=, accel=, gyro=)`` convention, as in its gait regression inputs
(``gait_input.npz``: an Axivity AX3 at ≈ 197 Hz; ``gait_input2.npz``: 128 Hz with a gyroscope).
Acceleration is in g (skdh's documented unit; checked here: a median magnitude near 1 means g, near 9.8
means m/s² already). skdh's own documentation disagrees with itself on the gyroscope unit (its gait
``predict`` says deg/s, its gait endpoints rad/s), so the unit is decided from the data:

A lumbar sensor in walking or running turns at most a few hundred deg/s, i.e. well under 4π rad/s
(720 deg/s); read as deg/s, a 99.9th-percentile rate below 4π would mean a sensor that hardly moved
(under 13 deg/s). So a gyroscope whose 99.9th-percentile magnitude is below
:data:`RAD_S_CEILING` is taken as rad/s, anything larger as deg/s. The decision and its evidence are
recorded in ``meta["gyr_unit_in_file"]`` / ``meta["gyr_unit_evidence"]``. (For ``gait_input2.npz`` an
independent check agrees: read as rad/s, each of its six turns integrates to ≈ 180°, a walkway U-turn.)

Time stamps are kept as given (shifted to start at 0; ``meta["start_unix_s"]`` holds the offset), so
irregular stamps stay irregular; ``rate_hz`` is the mean rate over intervals that are not gaps.
"""

from __future__ import annotations

import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from imu.constants import GAP_FACTOR, STANDARD_GRAVITY_MS2
from imu.errors import InputError
from imu.samples import Recording, SampleBlock

FORMAT: Final = "skdh-npz"
DESCRIPTION: Final = (
    "NumPy .npz with time (unix s), accel (g) and optional gyro, as scikit-digital-health takes"
)

REQUIRED_KEYS: Final = ("time", "accel")
RAD_S_CEILING: Final = 4 * np.pi
"""99.9th-percentile angular rate below this (rad/s, = 720 deg/s) → the file is in rad/s; see module doc."""


def sniff(path: Path, head: bytes) -> bool:
    """An ``.npz`` name (NumPy archives are zip files, ``PK`` magic); the keys are checked by :func:`read`."""
    return path.suffix.lower() == ".npz"


def read(path: Path) -> list[Recording]:
    """One recording: acc m/s² incl. gravity, gyr deg/s (when present), sensor frame."""
    path = Path(path)
    arrays = _load(path)
    t = _array(arrays, "time", 1, path)
    acc = _array(arrays, "accel", 2, path)
    n = t.shape[0]
    if acc.shape != (n, 3):
        raise InputError(
            "'accel' has the wrong shape", expected=f"({n}, 3) like 'time'", found=str(acc.shape), where=path
        )
    if n == 0:
        raise InputError("no samples", expected="at least one sample in 'time'", found="0", where=path)
    meta: dict[str, Any] = {"format": FORMAT, "keys": sorted(arrays)}
    acc_ms2, meta["acc_unit_in_file"] = _acc_to_ms2(acc, path)
    gyr = None
    if "gyro" in arrays:
        raw = _array(arrays, "gyro", 2, path)
        if raw.shape != (n, 3):
            raise InputError(
                "'gyro' has the wrong shape",
                expected=f"({n}, 3) like 'time'",
                found=str(raw.shape),
                where=path,
            )
        gyr, meta["gyr_unit_in_file"], meta["gyr_unit_evidence"] = _gyr_to_dps(raw)
    t0 = float(t[0])
    meta["start_unix_s"] = t0
    meta["start_time"] = datetime.fromtimestamp(t0, tz=UTC).isoformat(timespec="milliseconds")
    meta["start_time_zone"] = "UTC (unix time stamps)"
    samples = SampleBlock(t - t0, acc_ms2, gyr)
    return [Recording.from_samples(samples, str(path), rate_hz=_mean_rate_hz(samples.t_s), meta=meta)]


def _load(path: Path) -> dict[str, NDArray[Any]]:
    if not zipfile.is_zipfile(path):
        head = path.read_bytes()[:8]
        raise InputError(
            "not a NumPy .npz archive",
            expected="a zip of .npy arrays (starting b'PK') with keys 'time', 'accel' [, 'gyro']",
            found=f"a file starting {head!r}",
            where=path,
        )
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise InputError(
            "not a readable NumPy .npz archive",
            expected="a zip of .npy arrays with keys 'time', 'accel' [, 'gyro']",
            found=f"{type(exc).__name__}: {exc}",
            where=path,
        ) from exc
    missing = [k for k in REQUIRED_KEYS if k not in arrays]
    if missing:
        raise InputError(
            "missing arrays",
            expected="keys 'time' (unix s), 'accel' (g) and optionally 'gyro'",
            found=", ".join(sorted(arrays)) or "no arrays",
            where=path,
        )
    return arrays


def _array(arrays: dict[str, NDArray[Any]], key: str, ndim: int, path: Path) -> NDArray[np.float64]:
    a = arrays[key]
    if a.ndim != ndim or not np.issubdtype(a.dtype, np.number):
        raise InputError(
            f"'{key}' is not a numeric {ndim}-D array",
            expected=f"numbers, {ndim} dimension(s)",
            found=f"dtype {a.dtype}, shape {a.shape}",
            where=path,
        )
    return a.astype(np.float64)


def _acc_to_ms2(acc: NDArray[np.float64], path: Path) -> tuple[NDArray[np.float64], str]:
    """g (skdh's unit) or, if the magnitudes say so, m/s² already."""
    median = float(np.nanmedian(np.linalg.norm(acc, axis=1)))
    if 0.3 < median < 3.0:
        return acc * STANDARD_GRAVITY_MS2, "g"
    if 0.3 * STANDARD_GRAVITY_MS2 < median < 3.0 * STANDARD_GRAVITY_MS2:
        return acc, "m/s²"
    raise InputError(
        "'accel' is in no known unit",
        expected="a median magnitude near 1 (g) or 9.81 (m/s²)",
        found=f"{median:.4g}",
        where=path,
    )


def _gyr_to_dps(gyr: NDArray[np.float64]) -> tuple[NDArray[np.float64], str, str]:
    p999 = float(np.nanpercentile(np.linalg.norm(gyr, axis=1), 99.9))
    evidence = f"99.9th-percentile |gyro| = {p999:.3g} (rad/s if below {RAD_S_CEILING:.3g})"
    if p999 < RAD_S_CEILING:
        return np.rad2deg(gyr), "rad/s", evidence
    return gyr, "deg/s", evidence


def _mean_rate_hz(t_s: NDArray[np.float64]) -> float:
    """Mean rate over the intervals that are not gaps (jittered stamps make the median misleading)."""
    if t_s.shape[0] < 2:
        return float("nan")
    dt = np.diff(t_s)
    regular = dt[dt <= GAP_FACTOR * np.median(dt)]
    return float(1.0 / np.mean(regular))
