"""GENEActiv CSV exports (GENEActiv PC Software "raw data" CSV), as GaitPy's ``demo_data.csv``.

Layout (from the file itself): a header of ``Key,Value`` lines — ``Device Type,GENEActiv``, ``Measurement
Frequency,50.0 Hz``, ``Device Location Code,back``, ``Time Zone,GMT -04`` … (99 lines in GaitPy's demo,
found here by looking for the first data row rather than by counting) — then one row per sample:
``YYYY-MM-DD hh:mm:ss:mmm, x, y, z, lux, button, temperature`` with x, y, z calibrated acceleration in g.
GaitPy reads ``y`` as vertical for a sensor worn on the back; we keep the sensor frame.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from imu.constants import STANDARD_GRAVITY_MS2
from imu.errors import InputError
from imu.io.importers.geneactiv import parse_gmt_offset
from imu.samples import Recording, SampleBlock

FORMAT: Final = "geneactiv-csv"
DESCRIPTION: Final = (
    "GENEActiv CSV export (header lines, then time stamp, x, y, z in g, lux, button, temperature)"
)

COLUMNS: Final = ("time", "x_g", "y_g", "z_g", "lux", "button", "temperature_c")
_DATA_ROW: Final = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}:\d{3},")
_TIME_FORMAT: Final = "%Y-%m-%d %H:%M:%S:%f"
MAX_HEADER_LINES: Final = 1000


def sniff(path: Path, head: bytes) -> bool:
    """A ``.csv`` whose first line is ``Device Type,GENEActiv``."""
    return path.suffix.lower() == ".csv" and head.startswith(b"Device Type,GENEActiv")


def read(path: Path) -> list[Recording]:
    """One recording: acc m/s² incl. gravity, no gyroscope, sensor frame."""
    path = Path(path)
    header, n_header = _header(path)
    frame = pd.read_csv(
        path,
        skiprows=n_header,
        header=None,
        names=list(COLUMNS),
        usecols=range(len(COLUMNS)),
        dtype=str,
        skip_blank_lines=False,
    )
    filled = np.flatnonzero(frame.notna().any(axis=1).to_numpy())
    frame = frame.iloc[: filled[-1] + 1 if filled.size else 0]  # blank lines at the end are no samples
    if frame.empty:
        raise InputError("no data rows", expected="sample rows after the header", found="none", where=path)
    stamps = pd.to_datetime(frame["time"].str.strip(), format=_TIME_FORMAT, errors="coerce")
    _first_bad(
        stamps.isna().to_numpy(), n_header, "time", "a time stamp 'YYYY-MM-DD hh:mm:ss:mmm'", frame, path
    )
    acc_g = np.empty((len(frame), 3))
    for j, col in enumerate(("x_g", "y_g", "z_g")):
        values = pd.to_numeric(frame[col], errors="coerce").to_numpy(np.float64)
        _first_bad(~np.isfinite(values), n_header, col, "a number (g)", frame, path)
        acc_g[:, j] = values
    ns = stamps.to_numpy("datetime64[ns]").astype(np.int64)
    t_s = (ns - ns[0]) / 1e9
    steps = np.diff(t_s)
    if np.any(steps <= 0):
        i = int(np.argmax(steps <= 0)) + 1
        raise InputError(
            "time stamps do not increase",
            expected=f"a time after {frame['time'].iloc[i - 1].strip()}",
            found=frame["time"].iloc[i].strip(),
            where=f"{path}, line {n_header + i + 1}",
        )

    zone = parse_gmt_offset(header.get("Time Zone", ""))
    start = datetime.strptime(frame["time"].iloc[0].strip(), _TIME_FORMAT)
    meta: dict[str, Any] = {
        "format": FORMAT,
        "device": f"GENEActiv {header.get('Device Model', '')}".strip(),
        "device_id": header.get("Device Unique Serial Code"),
        "firmware": header.get("Device Firmware Version"),
        "exported_by": header.get("Application name & version"),
        "start_time": (start.replace(tzinfo=zone) if zone else start).isoformat(timespec="milliseconds"),
        "start_time_zone": header.get("Time Zone") or "unknown",
        "header_lines": n_header,
    }
    if header.get("Device Location Code"):
        meta["placement"] = header["Device Location Code"]
    rate = _configured_rate_hz(header.get("Measurement Frequency", ""))
    if rate is not None:
        meta["configured_rate_hz"] = rate
    samples = SampleBlock(t_s, acc_g * STANDARD_GRAVITY_MS2, None)
    return [Recording.from_samples(samples, str(path), rate_hz=rate, meta=meta)]


def _header(path: Path) -> tuple[dict[str, str], int]:
    """``Key,Value`` pairs of the header and its number of lines (the first data row's index)."""
    header: dict[str, str] = {}
    with path.open(encoding="latin-1", newline="") as f:
        for n, line in enumerate(f):
            if n == 0 and not line.startswith("Device Type,GENEActiv"):
                raise InputError(
                    "not a GENEActiv CSV export",
                    expected="a first line 'Device Type,GENEActiv'",
                    found=repr(line[:60]),
                    where=path,
                )
            if _DATA_ROW.match(line):
                return header, n
            if n >= MAX_HEADER_LINES:
                break
            key, sep, value = line.rstrip("\r\n").partition(",")
            if sep and key.strip():
                header[key.strip()] = value.strip()
    raise InputError(
        "no data rows after the header",
        expected="rows starting 'YYYY-MM-DD hh:mm:ss:mmm,' followed by x, y, z in g",
        found=f"none in the first {MAX_HEADER_LINES} lines" if header else "an empty file",
        where=path,
    )


def _first_bad(
    bad: np.ndarray, n_header: int, column: str, expected: str, frame: pd.DataFrame, path: Path
) -> None:
    if np.any(bad):
        i = int(np.argmax(bad))
        raise InputError(
            f"unreadable value in column '{column}'",
            expected=expected,
            found=repr(frame[column].iloc[i]),
            where=f"{path}, line {n_header + i + 1}",
        )


def _configured_rate_hz(text: str) -> float | None:
    m = re.match(r"\s*([0-9.]+)", text)
    return float(m.group(1)) if m else None
