"""``imu info``: a short, aligned, human description of one recording.

What a researcher checks before analysing a file: where it came from, how long and how fast it is, which
channels are real, whether samples were lost, whether the values look like a body-worn sensor, and what
ground truth comes with it.
"""

from __future__ import annotations

import numpy as np

from imu.constants import GAP_FACTOR, SENSOR_ACC_COLUMNS, SENSOR_GYR_COLUMNS
from imu.samples import Recording

_LABEL_WIDTH = 11


def _line(label: str, text: str) -> str:
    return f"{label:<{_LABEL_WIDTH}}{text}"


def _flat(values: dict[str, object]) -> str:
    """``{"speed_mps": 2.5, "strike_pct": {"RFS": 100.0}}`` → ``speed_mps 2.5, strike_pct RFS 100``."""
    parts = []
    for key, value in values.items():
        shown = (
            " ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in value.items())
            if isinstance(value, dict)
            else value
        )
        parts.append(f"{key} {shown:g}" if isinstance(shown, float) else f"{key} {shown}")
    return ", ".join(parts)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.3f} s"
    minutes, rest = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return (f"{int(hours)} h " if hours else "") + f"{int(minutes)} min {rest:04.1f} s ({seconds:.1f} s)"


def _rate(recording: Recording) -> str:
    t = recording.samples.t_s
    if t.shape[0] < 2:
        return f"{recording.rate_hz:g} Hz"
    dt = np.diff(t)
    regular = dt[dt <= GAP_FACTOR / recording.rate_hz]
    jitter_ms = float(np.std(regular)) * 1e3 if regular.size else float("nan")
    return f"{recording.rate_hz:.2f} Hz nominal (interval SD {jitter_ms:.3f} ms)"


def _channels(recording: Recording) -> str:
    present = recording.meta.get("axes_present")
    acc_axes = [c for c in SENSOR_ACC_COLUMNS if present is None or c in present]
    text = "acc " + " ".join(c[-1] for c in acc_axes)
    absent = [c for c in SENSOR_ACC_COLUMNS if c not in acc_axes]
    if absent:
        text += f" ({', '.join(absent)} absent, zeros)"
    return text + (", gyr x y z" if recording.samples.has_gyr else "; no gyroscope (acc-only)")


def _gaps(recording: Recording) -> str:
    gaps = recording.gaps()
    if not gaps:
        return "none"
    longest = max(gaps, key=lambda g: g.duration_s)
    missing_s = sum(g.missing_samples for g in gaps) / recording.rate_hz
    return (
        f"{len(gaps)}, {missing_s:.3f} s missing in total; longest {longest.duration_s:.3f} s "
        f"at t = {longest.t_start_s:.3f} s"
    )


def _ranges(recording: Recording) -> list[str]:
    block = recording.samples
    lines = []
    columns = [(SENSOR_ACC_COLUMNS, block.acc, "m/s²")]
    if block.gyr is not None:
        columns.append((SENSOR_GYR_COLUMNS, block.gyr, "deg/s"))
    for names, values, unit in columns:
        for j, name in enumerate(names):
            v = values[:, j]
            lines.append(_line(name, f"{v.min():9.3f} … {v.max():9.3f} {unit:<6} mean {v.mean():9.3f}"))
    return lines


def _truth(recording: Recording) -> str:
    if not recording.truth:
        return "none"
    return "; ".join(
        f"{name} ({len(table)} rows: {', '.join(map(str, table.columns))})"
        for name, table in recording.truth.items()
    )


def describe(recording: Recording) -> str:
    """A block of aligned ``label  value`` lines (no trailing newline)."""
    meta = recording.meta
    t = recording.samples.t_s
    lines = [_line("source", recording.source), _line("format", str(meta.get("format", "unknown")))]
    for key in ("device", "placement", "activity"):
        if key in meta:
            lines.append(_line(key, str(meta[key])))
    if isinstance(meta.get("trial"), dict):
        lines.append(_line("trial", _flat(meta["trial"])))
    lines += [
        _line(
            "duration",
            f"{_duration(recording.duration_s)} (t = {t[0]:.3f} … {t[-1]:.3f} s)" if t.size else "empty",
        ),
        _line("samples", f"{len(recording.samples)}"),
        _line("rate", _rate(recording)),
        _line("channels", _channels(recording)),
        _line("gaps", _gaps(recording)),
        *(_ranges(recording) if t.size else []),
        _line("truth", _truth(recording)),
    ]
    for key, label in (("sides_suspect", "sides"), ("licence", "licence"), ("citation", "citation")):
        if key in meta:
            lines.append(_line(label, str(meta[key])))
    return "\n".join(lines)
