"""Voisard et al. 2023 (IPOL) Xsens MTw exports: ``<subject>-<trial>_lb.txt`` (L5), ``_lf``/``_rf`` (feet).

Layout: a first line ``Acquisition frequency: 100 Hz``, then a tab-separated table with header
``PacketCounter Acc_X Acc_Y Acc_Z Gyr_X Gyr_Y Gyr_Z Mag_X Mag_Y Mag_Z``: acceleration m/s² (including
gravity), angular rate rad/s, magnetic field normalised (not used), raw Xsens sensor frame.

Time comes from the PacketCounter, not the row number: the files lose packets (up to ≈ 19 % in a trial),
and the upstream code puts sample k at (counter_k − counter_0) / rate. The counter is unwrapped at 2¹⁶
(Xsens counts in 16 bits), so lost packets stay visible as gaps.

Ground truth (``<subject>-<trial>.json`` next to the file): ``LeftFootEvents`` / ``RightFootEvents`` are
``[start, end]`` pairs on the same counter axis that upstream shades as the swing phase, so start = toe-off
and end = initial contact of that foot. They become ``truth["events"]`` with columns ``t_s``, ``foot``
(``L``/``R``), ``event`` (``IC``/``TO``), ``packet_index`` (counter − first counter, int64), sorted by time.
In trials 4-1 and 4-2 the sides look swapped (yaw- and roll-rate cues both flip); they are imported as
labelled and flagged in ``meta["sides_suspect"]``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from imu.errors import InputError
from imu.io.importers._tables import first_line, numeric_columns, read_table
from imu.samples import Recording, SampleBlock

FORMAT = "voisard2023"
DESCRIPTION = "Voisard et al. 2023 Xsens MTw export (<subj>-<trial>_lb.txt, PacketCounter, m/s², rad/s)"

CITATION = (
    "Voisard C. et al. A reference data set for the study of healthy subject gait with inertial "
    "measurements units. Image Processing On Line 13 (2023). https://www.ipol.im/pub/art/2023/497/"
)
SUSPECT_SIDES = frozenset({"4-1", "4-2"})
"""Trials whose left/right labels look swapped (see the data set's PROVENANCE.md)."""

_RATE = re.compile(r"Acquisition frequency:\s*(?P<rate>[0-9.]+)\s*Hz", re.IGNORECASE)
_NAME = re.compile(r"(?P<code>(?P<subject>\d+)-(?P<trial>\d+))_(?P<site>lb|lf|rf)\.txt")
_PLACEMENT = {"lb": "lower back (L5)", "lf": "left foot", "rf": "right foot"}
_ACC = ("Acc_X", "Acc_Y", "Acc_Z")
_GYR = ("Gyr_X", "Gyr_Y", "Gyr_Z")
_COUNTER_MODULUS = 1 << 16


def sniff(path: Path, head: bytes) -> bool:
    return bool(_RATE.match(first_line(head))) and b"PacketCounter" in head


def _packet_index(counter: np.ndarray, path: Path) -> np.ndarray:
    """Counter steps from the first packet, unwrapped at 2¹⁶; raises on a repeated or backward packet."""
    step = np.diff(counter)
    step = np.where(step < -_COUNTER_MODULUS // 2, step + _COUNTER_MODULUS, step)
    if np.any(step <= 0):
        i = int(np.argmax(step <= 0))
        raise InputError(
            f"PacketCounter does not increase at line {i + 4}",
            expected=f"a packet after {int(counter[i])}",
            found=str(int(counter[i + 1])),
            where=path,
        )
    return np.r_[0, np.cumsum(step)].astype(np.int64)


def _events(json_path: Path, rate_hz: float) -> tuple[pd.DataFrame, dict[str, object]]:
    try:
        info = json.loads(json_path.read_text(encoding="utf-8"))
        sides = (("L", "LeftFootEvents"), ("R", "RightFootEvents"))
        pairs = [(foot, int(a), int(b)) for foot, key in sides for a, b in info[key]]
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(
            "unreadable event file",
            expected="JSON with LeftFootEvents / RightFootEvents as [start, end] pairs",
            found=f"{type(exc).__name__}: {exc}",
            where=json_path,
        ) from None
    foot = np.array([p[0] for p in pairs for _ in range(2)], dtype=object)
    event = np.array(["TO", "IC"] * len(pairs), dtype=object)
    index = np.array([i for p in pairs for i in p[1:]], dtype=np.int64)
    table = pd.DataFrame({"t_s": index / rate_hz, "foot": foot, "event": event, "packet_index": index})
    table = table.sort_values(["t_s", "foot"], kind="stable").reset_index(drop=True)
    meta: dict[str, object] = {
        k.lower(): info[k] for k in ("Subject", "Trial", "Age", "Gender", "Height", "Weight") if k in info
    }
    for key, name in (("TrialBoundaries", "trial_bounds_s"), ("UTurnBoundaries", "uturn_bounds_s")):
        if key in info:
            meta[name] = [v / rate_hz for v in info[key]]
    return table, meta


def read(path: Path) -> list[Recording]:
    with path.open("r", encoding="utf-8", errors="replace") as f:
        match = _RATE.match(f.readline().strip())
    if not match:
        raise InputError("missing sampling rate line", expected="'Acquisition frequency: <N> Hz'", where=path)
    rate_hz = float(match["rate"])
    frame = read_table(path, sep="\t", skiprows=1)
    missing = [c for c in ("PacketCounter", *_ACC, *_GYR) if c not in frame.columns]
    if missing:
        raise InputError(
            "missing columns " + ", ".join(missing),
            expected="PacketCounter, Acc_X..Acc_Z, Gyr_X..Gyr_Z (tab-separated, line 2)",
            found=", ".join(frame.columns),
            where=path,
        )
    if len(frame) == 0:
        raise InputError("no samples after the header", expected="at least one line of data", where=path)
    counter = numeric_columns(frame, ["PacketCounter"], where=path, first_line_no=3)[:, 0].astype(np.int64)
    packet = _packet_index(counter, path)
    t_s = packet / rate_hz
    acc = numeric_columns(frame, _ACC, where=path, first_line_no=3)
    gyr = np.degrees(numeric_columns(frame, _GYR, where=path, first_line_no=3))
    name = _NAME.fullmatch(path.name)
    meta: dict[str, object] = {
        "format": FORMAT,
        "device": "Xsens MTw Awinda",
        "placement": _PLACEMENT[name["site"]] if name else "unknown",
        "activity": "walking: 10 m, U-turn, 10 m back",
        "licence": "AGPL-3.0 (repository licence; validation only, do not redistribute)",
        "citation": CITATION,
        "packets_lost": int(packet[-1] + 1 - packet.shape[0]),
    }
    truth: dict[str, pd.DataFrame] = {}
    if name:
        meta["trial"] = {"code": name["code"], "subject": int(name["subject"]), "number": int(name["trial"])}
        json_path = path.with_name(name["code"] + ".json")
        if json_path.is_file():
            truth["events"], subject_meta = _events(json_path, rate_hz)
            meta["subject"] = subject_meta
            meta["events_beyond_signal"] = int((truth["events"]["t_s"] > t_s[-1]).sum())
        if name["code"] in SUSPECT_SIDES:
            meta["sides_suspect"] = (
                "left/right labels look swapped in this trial (yaw- and roll-rate cues flip)"
            )
    block = SampleBlock(t_s, acc, gyr)
    return [Recording.from_samples(block, str(path), rate_hz=rate_hz, meta=meta, truth=truth)]
