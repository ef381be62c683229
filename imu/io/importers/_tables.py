"""Shared helpers for text-table importers: reading, numeric cells, time order, pairing two sensor files.

Every check reports the file, the line (1-based, as an editor shows it) and the column, so a user can open
the file and see the cell.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from imu.constants import GAP_FACTOR
from imu.errors import InputError
from imu.samples import FloatArray

HEAD_BYTES = 4096
"""How much of a file the sniffers look at."""


def first_line(head: bytes) -> str:
    """The first line of a file head as text (BOM and surrounding blanks removed); '' if not UTF-8 text."""
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError:
        # the head may cut a multi-byte character at its end; a valid prefix still decodes
        try:
            text = head[: max(0, len(head) - 3)].decode("utf-8-sig")
        except UnicodeDecodeError:
            return ""
    if "\x00" in text:
        return ""
    return text.splitlines()[0].strip() if text else ""


def read_table(
    path: Path,
    *,
    sep: str = ",",
    skiprows: int = 0,
    header: int | None = 0,
    names: Sequence[str] | None = None,
    text: str | None = None,
    dtype: type | None = None,
) -> pd.DataFrame:
    """Read a delimited text table; malformed rows and non-UTF-8 bytes become :class:`InputError`.

    Blank lines are kept (as empty rows) so that row ``i`` is always line ``skiprows + header + 2 + i``;
    trailing empty rows are dropped.
    """
    source: Path | io.StringIO = io.StringIO(text) if text is not None else path
    try:
        frame = pd.read_csv(
            source,
            sep=sep,
            skiprows=skiprows,
            header=header,
            names=list(names) if names is not None else None,
            dtype=dtype,
            skip_blank_lines=False,
            keep_default_na=False,  # only an empty cell is missing; "n/a" or "NaN" is reported as written
            na_values=[""],
            skipinitialspace=True,
            encoding="utf-8-sig",
            quoting=csv.QUOTE_MINIMAL,
            low_memory=False,
        )
    except UnicodeDecodeError as exc:
        raise InputError(
            "not UTF-8 text",
            expected="a UTF-8 (or ASCII) text file",
            found=f"byte 0x{exc.object[exc.start]:02x} at byte offset {exc.start}",
            where=path,
        ) from None
    except pd.errors.EmptyDataError:
        raise InputError(
            "no header line", expected="a header line, then one sample per line", where=path
        ) from None
    except pd.errors.ParserError as exc:
        raise InputError(
            "malformed table",
            expected="the same number of fields on every line",
            found=str(exc).replace("Error tokenizing data. C error: ", ""),
            where=path,
        ) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    filled = frame.notna().any(axis=1).to_numpy()
    last = int(np.flatnonzero(filled)[-1]) + 1 if filled.any() else 0
    return frame.iloc[:last]


def header_cells(path: Path, sep: str = ",") -> list[str]:
    """The first line's cells exactly as written (pandas renames repeated names, which would hide them)."""
    with path.open("r", encoding="utf-8-sig", errors="replace", newline="") as f:
        return [c.strip() for c in next(csv.reader(f, delimiter=sep), [])]


def numeric_columns(
    frame: pd.DataFrame, columns: Sequence[str], *, where: str | Path, first_line_no: int
) -> FloatArray:
    """The named columns as an (N, len(columns)) float array.

    A cell that is empty or not a finite number raises, naming its line (``first_line_no`` is the line of
    row 0) and its column.
    """
    out = np.empty((len(frame), len(columns)), dtype=np.float64)
    header = [str(c) for c in frame.columns]
    for j, name in enumerate(columns):
        raw = frame[name]
        parsed = (
            raw if pd.api.types.is_numeric_dtype(raw) else pd.to_numeric(raw.astype(object), errors="coerce")
        )
        values = parsed.to_numpy(np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            i = int(np.argmax(bad))
            cell = raw.iloc[i]
            found = "an empty cell" if pd.isna(cell) or not str(cell).strip() else repr(str(cell))
            raise InputError(
                f"bad value at line {first_line_no + i}, column {header.index(name) + 1} ({name!r})",
                expected="a finite number",
                found=found,
                where=where,
            )
        out[:, j] = values
    return out


def integer_column(frame: pd.DataFrame, name: str, *, where: str | Path, first_line_no: int) -> np.ndarray:
    """A column of whole numbers (e.g. nanosecond timestamps) as exact int64, read from text cells."""
    cells = frame[name].astype(str).str.strip()
    bad = ~cells.str.fullmatch(r"-?\d{1,18}").to_numpy(bool)
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(
            f"bad value at line {first_line_no + i}, column {list(frame.columns).index(name) + 1} ({name!r})",
            expected="a whole number",
            found=repr(str(frame[name].iloc[i])) if pd.notna(frame[name].iloc[i]) else "an empty cell",
            where=where,
        )
    return cells.astype(np.int64).to_numpy()


def require_increasing(
    t_s: FloatArray, *, where: str | Path, first_line_no: int, column: str, row_label: str = "line"
) -> None:
    """Raise unless time increases strictly, naming the first line (or ``row_label``) where it does not."""
    if t_s.shape[0] < 2:
        return
    bad = ~(np.diff(t_s) > 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(
            f"time does not increase at {row_label} {first_line_no + i + 1} (column {column!r})",
            expected=f"a value above {float(t_s[i])!r} ({row_label} {first_line_no + i})",
            found=repr(float(t_s[i + 1])),
            where=where,
        )


def sibling(path: Path, token: str, replacement: str) -> Path | None:
    """``path`` with the LAST occurrence of ``token`` in its name replaced, if that file exists."""
    name = path.name
    at = name.rfind(token)
    if at < 0:
        return None
    candidate = path.with_name(name[:at] + replacement + name[at + len(token) :])
    return candidate if candidate.is_file() else None


def acc_and_gyro_paths(
    path: Path, *, is_gyro: bool, acc_token: str, gyr_token: str
) -> tuple[Path, Path | None]:
    """The accelerometer file and its gyroscope sibling (``None`` if absent), given either of the two.

    Exporters that write one file per sensor name them alike but for a token (``ACC``/``GYRO``); a
    gyroscope file alone is refused, since the accelerometer's clock is the recording's time axis.
    """
    acc_path = sibling(path, gyr_token, acc_token) if is_gyro else path
    if acc_path is None:
        raise InputError(
            "a gyroscope file without its accelerometer file",
            expected=f"{path.name.replace(gyr_token, acc_token)} next to it",
            found="no such file",
            where=path,
        )
    return acc_path, path if is_gyro else sibling(path, acc_token, gyr_token)


def pair_gyro(
    t_acc: FloatArray,
    acc: FloatArray,
    t_gyr: FloatArray,
    gyr: FloatArray,
    *,
    gyr_path: Path,
    found: str,
    meta: dict[str, object],
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """:func:`align_onto`, refusing streams that do not overlap, and noting the pairing in ``meta``.

    ``found`` describes the two streams' time spans for the error message.
    """
    t, acc_kept, gyr_on_acc, dropped = align_onto(t_acc, acc, t_gyr, gyr)
    if t.shape[0] == 0:
        raise InputError(
            "the accelerometer and gyroscope files do not overlap in time",
            expected="time stamps covering the same period",
            found=found,
            where=gyr_path,
        )
    files = meta.get("files")
    meta["files"] = [*files, str(gyr_path)] if isinstance(files, list) else [str(gyr_path)]
    meta["gyr_alignment"] = "linear interpolation of the gyroscope onto accelerometer sample times"
    meta["acc_samples_dropped"] = dropped
    return t, acc_kept, gyr_on_acc


def align_onto(
    t_acc: FloatArray, acc: FloatArray, t_gyr: FloatArray, gyr: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, int]:
    """Put a separately timed gyroscope stream onto the accelerometer's time axis.

    Linear interpolation of each gyro axis at the acc sample times. Acc samples outside the gyro's time
    span, or inside a gyro gap (an interval longer than ``GAP_FACTOR`` median gyro intervals), are dropped
    rather than filled: the result then shows a gap there, never invented angular rate. Returns
    ``(t_s, acc, gyr, n_dropped)``.
    """
    if t_gyr.shape[0] < 2:
        return t_acc[:0], acc[:0], np.empty((0, 3)), int(t_acc.shape[0])
    keep = (t_acc >= t_gyr[0]) & (t_acc <= t_gyr[-1])
    period = float(np.median(np.diff(t_gyr)))
    gap_after = np.flatnonzero(np.diff(t_gyr) > GAP_FACTOR * period)
    if gap_after.size:
        # index of the gyro interval each acc sample falls into
        interval = np.clip(np.searchsorted(t_gyr, t_acc, side="right") - 1, 0, t_gyr.shape[0] - 2)
        in_gap = np.isin(interval, gap_after) & (t_acc > t_gyr[interval])
        keep &= ~in_gap
    t = t_acc[keep]
    gyr_on_acc = np.column_stack([np.interp(t, t_gyr, gyr[:, j]) for j in range(3)])
    return t, acc[keep], gyr_on_acc, int((~keep).sum())
