"""``imu analyze``: the research contract: recordings in, steps / strides / minutes tables and a summary out.

One recording → ``DIR/steps.csv``, ``strides.csv``, ``minutes.csv``, ``summary.json`` and the same tables as
Parquet. Several (several inputs, or a file holding several trials) → ``DIR/<name>/…`` per recording, a
combined Parquet dataset partitioned by recording (``DIR/dataset/<table>/recording=<name>/part-0.parquet``,
read as one table with ``pandas.read_parquet(DIR / "dataset" / "steps")``) and ``DIR/recordings.csv`` (one
line per recording: what happened to it and its main figures).

The analysis is :class:`imu.gait.pipeline.GaitPipeline` over the recording as one block (batch = the
streaming code), then :mod:`imu.aggregates`. Before it, the input is checked at the boundary:

- rows with a non-finite value are dropped and so become a gap (never filled in), and counted;
- a sampling rate below :data:`imu.constants.MIN_RATE_HZ` is refused (a one-line error);
- clipping: an acceleration axis that sits at its extreme value for ``CLIP_RUN`` or more consecutive samples
  beyond ``CLIP_MIN_G`` is at the sensor's range there; impacts whose stance touches such samples are
  flagged (``impact_clipped``) and left out of the impact figures' left/right comparison;
- sides: ``steps.csv`` has the live ``side`` (final with the step, as the live dashboard shows it) and
  ``side_smoothed`` (final a few steps later, more accurate); every left/right figure uses
  ``side_smoothed`` (``summary.json``'s ``sides`` counts how the two compare);
- what cannot be computed (pelvis angles without a gyroscope, sides without a mediolateral axis, anything
  without running) is said in ``summary.json`` (``not_computed``) and in one line on stderr; the tables
  are then written with their columns and no rows (or NaN figures), never skipped.

Sample indices in the tables (``ic_index``…) count the analysed samples from the recording's first sample
(or the first one after ``--from``); they equal the input rows when no non-finite row was dropped.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from imu import __version__
from imu.aggregates import minutes_frame, session_figures, steps_frame, strides_frame
from imu.constants import MIN_RATE_HZ, SENSOR_ACC_COLUMNS, STANDARD_GRAVITY_MS2
from imu.errors import ImuError, InputError
from imu.gait.frame import Mounting
from imu.gait.pipeline import GaitPipeline, PipelineOutput, PipelineSettings
from imu.samples import Recording, SampleBlock, row_norms

CLIP_RUN = 3
"""Consecutive samples at an axis' extreme value that mean the sensor was at its range (noise never
repeats a value three times at several g)."""

CLIP_MIN_G = 2.0
"""Extremes below this (e.g. the 0 g floor some exports clip flight to) do not touch impacts."""

TABLES = ("steps", "strides", "minutes")


@dataclass
class Analysis:
    """The tables and the summary of one recording."""

    name: str
    steps: pd.DataFrame
    strides: pd.DataFrame
    minutes: pd.DataFrame
    bouts: pd.DataFrame
    summary: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    """Short notes for stderr: what could not be computed, and why."""


# ---------------------------------------------------------------------------------------------- input checks
def _cut(samples: SampleBlock, from_s: float | None, to_s: float | None, where: str) -> SampleBlock:
    t = samples.t_s
    lo = 0 if from_s is None else int(np.searchsorted(t, from_s, side="left"))
    hi = len(samples) if to_s is None else int(np.searchsorted(t, to_s, side="right"))
    if hi <= lo:
        raise InputError(
            "no samples between --from and --to",
            expected=f"a window inside {t[0]:.3f}–{t[-1]:.3f} s",
            found=f"{from_s}–{to_s} s",
            where=where,
        )
    return samples.slice(lo, hi)


def _finite_rows(samples: SampleBlock) -> tuple[SampleBlock, int]:
    """Drop rows with a NaN or infinity (they become a gap); returns the block and how many were dropped.

    A NaN or infinity makes its array's sum non-finite, so one sum per array clears the usual input (an
    hour: 0.5 ms instead of 17 ms for the per-row test, which still runs when a sum is not finite)."""
    with np.errstate(over="ignore"):
        if all(np.isfinite(a.sum()) for a in (samples.acc, samples.gyr) if a is not None):
            return samples, 0
    ok = np.all(np.isfinite(samples.acc), axis=1)
    if samples.gyr is not None:
        ok &= np.all(np.isfinite(samples.gyr), axis=1)
    dropped = int((~ok).sum())
    if dropped == 0:
        return samples, 0
    gyr = None if samples.gyr is None else samples.gyr[ok]
    return SampleBlock(samples.t_s[ok], samples.acc[ok], gyr, samples.start_index), dropped


def clipped_samples(acc: np.ndarray) -> np.ndarray:
    """(N,) True where an acceleration axis sits at a range it reaches for ``CLIP_RUN`` samples in a row."""
    out = np.zeros(acc.shape[0], bool)
    if acc.shape[0] < CLIP_RUN:
        return out
    for column in acc.T:
        for extreme in (column.max(), column.min()):
            if abs(extreme) < CLIP_MIN_G * STANDARD_GRAVITY_MS2:
                continue
            at = column == extreme
            where = np.flatnonzero(at)  # CLIP_RUN in a row: an index CLIP_RUN - 1 places on is that far on
            if np.any(where[CLIP_RUN - 1 :] - where[: where.size - CLIP_RUN + 1] == CLIP_RUN - 1):
                out |= at
    return out


def _clipped_steps(steps: PipelineOutput, clipped: np.ndarray, first_index: int) -> np.ndarray:
    """Per step, whether any sample from its IC to its toe-off is clipped."""
    if not clipped.any() or len(steps.steps) == 0:
        return np.zeros(len(steps.steps), bool)
    count = np.concatenate([[0], np.cumsum(clipped)])
    ic = steps.steps.ic_index - first_index
    to = np.where(steps.steps.to_index >= 0, steps.steps.to_index - first_index, ic)
    hi = np.clip(to + 1, 0, clipped.shape[0])
    lo = np.clip(ic, 0, clipped.shape[0])
    out: np.ndarray = count[hi] - count[lo] > 0
    return out


# ---------------------------------------------------------------------------------------------- analysis
def analyze_recording(
    recording: Recording,
    *,
    name: str | None = None,
    settings: PipelineSettings | None = None,
    mounting: Mounting | None = None,
    from_s: float | None = None,
    to_s: float | None = None,
) -> Analysis:
    """Analyse one recording (see the module docstring); raises :class:`InputError` on unusable input."""
    where = recording.source
    if not np.isfinite(recording.rate_hz) or recording.rate_hz < MIN_RATE_HZ:
        raise InputError(
            "sampling rate too low to resolve running steps",
            expected=f"at least {MIN_RATE_HZ:g} Hz",
            found=f"{recording.rate_hz:.4g} Hz",
            where=where,
        )
    samples = _cut(recording.samples, from_s, to_s, where)
    samples, dropped = _finite_rows(samples)
    if len(samples) == 0:
        raise InputError(
            "no finite samples", expected="numbers in every column", found="only NaN", where=where
        )
    clipped = clipped_samples(samples.acc)

    pipeline = GaitPipeline(recording.rate_hz, samples.has_gyr, settings, mounting)
    out = PipelineOutput.concat([pipeline.update(samples), pipeline.flush()])

    steps = steps_frame(out.steps, _clipped_steps(out, clipped, samples.start_index), out.smoothed_sides)
    strides = strides_frame(steps, out.strides if len(out.strides) else None)
    bouts = out.bouts.to_frame()
    t0 = float(samples.t_s[0])
    minutes = minutes_frame(steps, strides, bouts, t0)
    figures = session_figures(steps, strides, minutes, bouts)
    not_computed = _not_computed(recording, samples, steps, strides, figures)
    summary = {
        "software": {"name": "imu", "version": __version__},
        "input": {
            "source": recording.source,
            "format": recording.meta.get("format"),
            "rate_hz": recording.rate_hz,
            "n_samples": len(samples),
            "t_start_s": t0,
            "duration_s": float(samples.t_s[-1] - t0),
            "from_s": from_s,
            "to_s": to_s,
            "has_gyr": samples.has_gyr,
            "axes_present": recording.meta.get("axes_present"),
            "n_gaps": len(recording.gaps()),
            "n_nonfinite_rows_dropped": dropped,
            "n_clipped_samples": int(clipped.sum()),
        },
        "frame": {
            "mounting": "stated" if mounting is not None else "found from the data",
            "confidence_final": pipeline.frame.confidence_,
            "confidence_median_at_steps": _median(steps["frame_confidence"]),
            "n_realignments": len(out.frame_events),
        },
        "bouts": {kind: int((bouts["kind"] == kind).sum()) for kind in ("running", "walking", "other")},
        "sides": _side_figures(steps),
        "look_ahead_s": pipeline.look_ahead_s,
        **figures,
        "not_computed": not_computed,
    }
    notes = [f"{figure}: {why}" for figure, why in not_computed.items()]
    return Analysis(name or _name(recording.source), steps, strides, minutes, bouts, summary, notes)


def _side_figures(steps: pd.DataFrame) -> dict[str, Any]:
    """How the live side (``side``) and the smoothed side the figures use (``side_smoothed``) compare."""
    live, smoothed = steps["side"], steps["side_smoothed"]
    both = live.isin(("L", "R")) & smoothed.isin(("L", "R"))
    return {
        "figures_use": "side_smoothed",
        "n_unsure_live": int((live == "?").sum()),
        "n_unsure_smoothed": int((smoothed == "?").sum()),
        "n_sure_both": int(both.sum()),
        "n_live_differs": int((both & (live != smoothed)).sum()),
    }


def _median(values: pd.Series) -> float | None:
    v = float(values.median()) if len(values) else float("nan")
    return v if np.isfinite(v) else None


def _not_computed(
    recording: Recording,
    samples: SampleBlock,
    steps: pd.DataFrame,
    strides: pd.DataFrame,
    figures: dict[str, Any],
) -> dict[str, str]:
    """Figure group → why it is missing (empty when everything could be computed)."""
    out: dict[str, str] = {}
    placement = _placement_doubt(samples)
    if placement:
        out["placement"] = placement
    if figures["n_running_steps"] == 0:
        walking = int((steps["gait"] == "walking").sum())
        out["running figures"] = (
            f"no running found (walking only: {walking} walking steps are in the steps table)"
            if walking
            else "no running found (no step-like periodicity with flight phases: is the sensor at the lower "
            "back and the recording of running?)"
        )
        return out
    axes = recording.meta.get("axes_present")
    no_ml = axes is not None and not set(SENSOR_ACC_COLUMNS) <= set(axes)
    if not samples.has_gyr:
        out["pelvis angles"] = "need a gyroscope (the input has acceleration only)"
        out["sides"] = (
            "no mediolateral axis (a biaxial sensor): every side is '?'"
            if no_ml
            else "from acceleration alone: weaker, flagged per step by side_confidence"
        )
    elif not strides["settled"].any():
        out["pelvis angles"] = (
            "no settled stride (the attitude settles at a standing start or after about a minute of running)"
        )
    if figures["n_pairs"] == 0:
        out["impact asymmetry"] = "no pair of consecutive running steps with sure, opposite sides"
    if figures["n_clipped_impacts"]:
        out["clipped impacts"] = f"{figures['n_clipped_impacts']} impacts at the sensor's range (flagged)"
    return out


LOWER_BACK_GYR_P99_MAX_DPS = 800.0
"""A foot or shank swings at up to 1000–1500 deg/s while running. Trunk sensors stay well below, but not
as far below as the pelvis alone suggests: SisFall's waist-belt device reaches a 99th percentile of
670 deg/s when jogging, so the limit sits above that."""
LOWER_BACK_ACC_P999_MAX_G = 12.0
"""Foot and tibial impacts reach 10–20 g; sacral ones 3–5 g, and SisFall's waist belt up to 8.6 g."""


def _placement_doubt(samples: SampleBlock) -> str | None:
    """Why the motion does not look like a lower-back sensor (e.g. worn on a foot, shank or wrist), or None.

    Limits from running biomechanics (the distal segments turn and hit far harder than the trunk), set
    above what every trunk recording in ../shared/data reaches; a plausibility check, not a classifier.

    A percentile never exceeds the maximum, so it is computed (a partition: ~3 ms an hour) only when the
    maximum is beyond the limit.
    """
    if samples.gyr is not None and len(samples):
        gyr_norms = row_norms(samples.gyr)
        gyr_p99 = float(np.percentile(gyr_norms, 99)) if gyr_norms.max() > LOWER_BACK_GYR_P99_MAX_DPS else 0.0
        if gyr_p99 > LOWER_BACK_GYR_P99_MAX_DPS:
            return (
                f"angular rate 99th percentile {gyr_p99:.0f} deg/s is beyond a lower-back sensor's "
                f"(≤ {LOWER_BACK_GYR_P99_MAX_DPS:.0f}): is the sensor on a foot, shank or wrist?"
            )
    acc_norms = row_norms(samples.acc)
    acc_p999 = 0.0
    if not acc_norms.size or acc_norms.max() / STANDARD_GRAVITY_MS2 > LOWER_BACK_ACC_P999_MAX_G:
        acc_p999 = float(np.percentile(acc_norms, 99.9)) / STANDARD_GRAVITY_MS2
    if acc_p999 > LOWER_BACK_ACC_P999_MAX_G:
        return (
            f"acceleration 99.9th percentile {acc_p999:.1f} g is beyond a lower-back sensor's "
            f"(≤ {LOWER_BACK_ACC_P999_MAX_G:.0f} g): is the sensor on a foot or shank?"
        )
    return None


# ---------------------------------------------------------------------------------------------- output
def _name(source: str) -> str:
    """A folder name from a recording's source: the file stem, plus the trial number when there is one."""
    base, _, trial = source.partition("#")
    stem = Path(base).name
    stem = stem.rsplit(".", 1)[0] if "." in stem else stem
    text = f"{stem}_{trial}" if trial else stem
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "recording"


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


REPR_POSITIONAL_MIN = 1e-4
REPR_POSITIONAL_MAX = 1e16
"""Python's ``repr`` of a float is positional for magnitudes in ``[1e-4, 1e16)``, scientific outside."""


def _float_cells(values: np.ndarray) -> pa.Array:
    """A float column's CSV cells as ``DataFrame.to_csv`` writes them: each float as Python's ``repr`` (its
    shortest round-trip digits), NaN as an empty cell.

    Arrow's cast to text finds the same shortest digits in C (double-conversion; both libraries pick, among
    the shortest strings that read back to the float, the one nearest to it), so only the layout differs:
    Arrow leaves off ``.0`` after a whole number (appended here; any other number has fractional digits)
    and switches to its own scientific notation (``1e-7``, ``1e+15``) at other magnitudes than ``repr``;
    every cell that is or should be scientific is formatted by ``repr`` itself (few in an analysis'
    tables: times, rates and figures lie between 1e-4 and 1e10)."""
    x = np.asarray(values, np.float64)
    text = pc.cast(pa.array(x), pa.string())
    magnitude = np.abs(x)
    finite = np.isfinite(x)
    positional = ((magnitude >= REPR_POSITIONAL_MIN) & (magnitude < REPR_POSITIONAL_MAX)) | (x == 0.0)
    scientific = pc.match_substring(text, "e").to_numpy(zero_copy_only=False)
    by_repr = finite & (scientific | ~positional)
    whole = finite & ~by_repr & (np.floor(x) == x)
    if whole.any():
        text = pc.if_else(pa.array(whole), pc.binary_join_element_wise(text, ".0", ""), text)
    missing = np.isnan(x)
    if missing.any():
        text = pc.if_else(pa.array(missing), "", text)
    if by_repr.any():
        text = pc.replace_with_mask(text, pa.array(by_repr), pa.array([repr(v) for v in x[by_repr].tolist()]))
    return text


def _csv_cells(values: np.ndarray) -> pa.Array:
    """One column's CSV cells as ``DataFrame.to_csv`` writes them (missing values as empty cells)."""
    if values.dtype.kind == "f":
        return _float_cells(values)
    if values.dtype.kind == "b":
        return pc.if_else(pa.array(values), "True", "False")
    if values.dtype.kind in "iu":
        return pc.cast(pa.array(values), pa.string())
    try:  # text (None and NaN are missing)
        return pc.fill_null(pa.array(values, pa.string(), from_pandas=True), "")
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # other objects: their str
        missing = pd.isna(values)
        cells = ["" if m else str(v) for v, m in zip(values.tolist(), missing.tolist(), strict=True)]
        return pa.array(cells, pa.string())


CSV_SPECIAL = r'[,"\r\n]'
"""Characters that make the ``csv`` writer quote a cell (delimiter, quote, line ends)."""


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """``frame.to_csv(path, index=False)``, byte for byte, several times faster: pandas formats every float
    through a numpy string array (most of an hour's ``imu analyze`` writing time); here each column is
    formatted at once by Arrow (:func:`_float_cells`). Numbers never need quoting, so when no text cell or
    column name holds a character that would be quoted, Arrow joins the cells into lines; otherwise the
    same C ``csv`` writer as pandas (minimal quoting, ``os.linesep``) writes them. Columns other than
    numbers, booleans and text (dates…) go to pandas."""
    values = [frame.iloc[:, i].to_numpy() for i in range(frame.shape[1])]
    if any(v.dtype.kind not in "fiubO" for v in values):
        frame.to_csv(path, index=False)
        return
    header = [str(c) for c in frame.columns]
    columns = [_csv_cells(v) for v in values]
    texts = [
        pa.array(header, pa.string()),
        *(c for v, c in zip(values, columns, strict=True) if v.dtype.kind == "O"),
    ]
    quoted = any(pc.any(pc.match_substring_regex(t, CSV_SPECIAL)).as_py() for t in texts)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        if len(header) > 1 and not quoted:
            handle.write(",".join(header) + os.linesep)
            if len(frame):
                lines = pc.binary_join_element_wise(*columns, ",")
                every = pa.ListArray.from_arrays(pa.array([0, len(lines)], pa.int32()), lines)
                handle.write(pc.binary_join(every, os.linesep)[0].as_py() + os.linesep)
        else:
            writer = csv.writer(handle, lineterminator=os.linesep)
            writer.writerow(header)
            writer.writerows(zip(*(c.to_pylist() for c in columns), strict=True))


def write_analysis(analysis: Analysis, folder: Path) -> None:
    """The tables as CSV and Parquet and the summary as JSON, into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for table in TABLES:
        frame: pd.DataFrame = getattr(analysis, table)
        write_csv(frame, folder / f"{table}.csv")
        frame.to_parquet(folder / f"{table}.parquet", index=False)
    text = json.dumps(_json_safe(analysis.summary), indent=1, ensure_ascii=False)
    (folder / "summary.json").write_text(text + "\n", encoding="utf-8")


def write_dataset(analyses: list[Analysis], folder: Path) -> None:
    """The combined dataset: one partition per recording and table, plus ``recordings.csv``."""
    for analysis in analyses:
        for table in TABLES:
            part = folder / "dataset" / table / f"recording={analysis.name}"
            part.mkdir(parents=True, exist_ok=True)
            getattr(analysis, table).to_parquet(part / "part-0.parquet", index=False)


def _unique_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}_{seen[n]}")
    return out


def run_analyze(args: argparse.Namespace) -> int:
    """The ``imu analyze`` command: 0 when every input was analysed, 2 when any could not be."""
    from imu.io.load import load_recordings

    mounting = Mounting.parse(args.mounting) if args.mounting else None
    out = Path(args.out)
    loaded: list[tuple[str, Recording | None, ImuError | None]] = []
    for path in args.inputs:
        try:
            loaded += [(r.source, r, None) for r in load_recordings(path)]
        except ImuError as exc:
            loaded.append((str(path), None, exc))
    names = _unique_names([_name(source) for source, _, _ in loaded])
    single = len(loaded) == 1
    analyses, lines, failed = [], [], 0
    for name, (source, recording, error) in zip(names, loaded, strict=True):
        if recording is not None:
            try:
                analysis = analyze_recording(
                    recording, name=name, mounting=mounting, from_s=args.from_s, to_s=args.to_s
                )
            except ImuError as exc:
                error = exc
            else:
                write_analysis(analysis, out if single else out / name)
                analyses.append(analysis)
                if analysis.notes:
                    print(f"imu analyze: {name}: not computed: {'; '.join(analysis.notes)}", file=sys.stderr)
                lines.append({"recording": name, "source": source, "status": "ok", **_headline(analysis)})
                continue
        if single and error is not None:
            raise error
        failed += 1
        print(f"imu analyze: {name}: {error}", file=sys.stderr)
        lines.append({"recording": name, "source": source, "status": f"error: {error}"})
    if not single:
        write_dataset(analyses, out)
        pd.DataFrame(lines).to_csv(out / "recordings.csv", index=False)
    return 2 if failed else 0


def _headline(analysis: Analysis) -> dict[str, Any]:
    s = analysis.summary
    keys = (
        "running_s",
        "n_running_steps",
        "cadence_spm",
        "contact_time_s",
        "impact_g",
        "impact_asymmetry_pct",
    )
    return {"duration_s": s["input"]["duration_s"], **{k: s[k] for k in keys}}
