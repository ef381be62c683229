"""Alcantara et al. 2022: sacral biaxial accelerometer during treadmill running, one trial per line.

``Accelerometer_one_sub.csv`` (github.com/alcantarar/Recurrent_GRF_Prediction, Apache-2.0): no header, one
line per trial, 2·N values: N vertical (V) then N anteroposterior (AP) accelerations in g, 500 Hz (the rate
is stated in the paper, not in the file). The authors low-passed the signal at 20 Hz and clipped negative V
to 0 g. Files found next to it are used when present:

- ``Sub_Info_one_sub.csv`` (same order as the trials): speed, slope, foot-strike shares → ``meta["trial"]``
  and the runner → ``meta["subject"]``;
- ``GRF_one_sub.csv``: vertical ground reaction force, body weights, sample-aligned →
  ``truth["grf"]`` with columns ``t_s``, ``grf_v_bw``;
- ``derived_contact_events_5pctBW.csv`` (here or one folder up; contacts where GRF > 5 % BW, as in the
  paper) → ``truth["contacts"]`` with columns ``t_ic_s``, ``t_to_s``, ``ic_index``, ``to_index``
  (absolute sample indices, int64), ``contact_time_s``. The treadmill gives one combined force, so there
  is no side.

Mapping two axes onto our three: ``acc_x`` = V (up positive, includes gravity), ``acc_y`` = AP (sign as in
the source), ``acc_z`` = 0. Zeros, not NaN, because every stage needs finite numbers, and zero is the only
fill that adds no signal (the norm stays √(V² + AP²)); ``meta["axes_present"]`` says which axes are real
so that stages needing the mediolateral axis can refuse rather than read the zeros as data.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from imu.constants import STANDARD_GRAVITY_MS2
from imu.errors import InputError
from imu.io.importers._tables import first_line, numeric_columns, read_table
from imu.samples import Recording, SampleBlock

FORMAT = "alcantara2022"
DESCRIPTION = "Alcantara et al. 2022 sacral accelerometer trials (one line per trial, V then AP, g, 500 Hz)"

RATE_HZ = 500.0
"""Alcantara et al. 2022, Methods: accelerometer data down-sampled to 500 Hz."""

CITATION = (
    "Alcantara RS, Edwards WB, Millet GY, Grabowski AM. Predicting continuous ground reaction forces from "
    "accelerometers during uphill and downhill running: a recurrent neural network solution. "
    "PeerJ 10:e12752 (2022). doi:10.7717/peerj.12752"
)
CONTACTS_FILE = "derived_contact_events_5pctBW.csv"

_NAME = re.compile(r"accelerometer.*\.csv", re.IGNORECASE)
_NUMBERS = re.compile(r"[-+0-9.eE,\s]+")


def sniff(path: Path, head: bytes) -> bool:
    """A file named Accelerometer*.csv whose first line is nothing but comma-separated numbers."""
    line = first_line(head)
    return bool(_NAME.fullmatch(path.name)) and bool(line) and bool(_NUMBERS.fullmatch(line))


def _companion(path: Path, name: str) -> Path | None:
    for folder in (path.parent, path.parent.parent):
        if (folder / name).is_file():
            return folder / name
    return None


def _trial_table(path: Path, n_trials: int) -> pd.DataFrame | None:
    info_path = path.with_name(re.sub("accelerometer", "Sub_Info", path.name, flags=re.IGNORECASE))
    if not info_path.is_file():
        return None
    info = read_table(info_path)
    if len(info) != n_trials:
        raise InputError(
            "trial table does not match the accelerometer file",
            expected=f"{n_trials} rows (one per trial in {path.name})",
            found=f"{len(info)} rows",
            where=info_path,
        )
    return info


def _trial_meta(info: pd.DataFrame | None, i: int) -> dict[str, object]:
    trial: dict[str, object] = {"number": i + 1, "index_in_source": i}
    if info is None:
        return trial
    row = info.iloc[i]
    trial["speed_mps"] = float(row["Speed"])
    trial["slope_deg"] = float(row["Slope"])
    if pd.notna(row.get("StepFreq")):
        trial["step_frequency_condition"] = row["StepFreq"]
    trial["foot_strike_pct"] = {k: float(row[k]) for k in ("RFS", "MFS", "FFS") if k in row}
    return trial


def read(path: Path) -> list[Recording]:
    frame = read_table(path, header=None)
    if frame.shape[1] % 2:
        raise InputError(
            "odd number of values per line",
            expected="N vertical then N anteroposterior values per trial",
            found=f"{frame.shape[1]} values",
            where=path,
        )
    values = numeric_columns(frame, list(frame.columns), where=path, first_line_no=1) * STANDARD_GRAVITY_MS2
    n_trials, n = values.shape[0], values.shape[1] // 2
    t_s = np.arange(n) / RATE_HZ
    info = _trial_table(path, n_trials)
    contacts_path = _companion(path, CONTACTS_FILE)
    contacts = read_table(contacts_path) if contacts_path else None
    grf_path = path.with_name(re.sub("accelerometer", "GRF", path.name, flags=re.IGNORECASE))
    grf = None
    if grf_path.is_file():
        grf_table = read_table(grf_path, header=None)
        grf = numeric_columns(grf_table, list(grf_table.columns), where=grf_path, first_line_no=1)
        if grf.shape != (n_trials, n):
            raise InputError(
                "force file does not match the accelerometer file",
                expected=f"{n_trials} lines of {n} values",
                found=f"{grf.shape[0]} lines of {grf.shape[1]} values",
                where=grf_path,
            )
    subject = None
    if info is not None:
        first = info.iloc[0]
        subject = {
            "id": int(first["Sub"]),
            "sex": str(first["Sex"]),
            "height_cm": float(first["Height"]),
            "mass_kg": float(first["Mass"]),
        }
    recordings = []
    for i in range(n_trials):
        acc = np.column_stack([values[i, :n], values[i, n:], np.zeros(n)])
        meta: dict[str, object] = {
            "format": FORMAT,
            "device": "custom biaxial accelerometer (Alcantara et al. 2022)",
            "placement": "sacrum",
            "activity": "treadmill running",
            "licence": "Apache-2.0",
            "citation": CITATION,
            "axes_present": ["acc_x", "acc_y"],
            "axes": {
                "acc_x": "vertical (V), up positive",
                "acc_y": "anteroposterior (AP)",
                "acc_z": "absent (zeros)",
            },
            "preprocessing": "authors' 20 Hz low-pass (zero-phase), negative vertical values clipped to 0 g",
            "trial": _trial_meta(info, i),
        }
        if subject is not None:
            meta["subject"] = subject
        truth: dict[str, pd.DataFrame] = {}
        if contacts is not None:
            rows = contacts[contacts["trial_index"] == i]
            truth["contacts"] = pd.DataFrame(
                {
                    "t_ic_s": rows["ic_sample"].to_numpy(np.int64) / RATE_HZ,
                    "t_to_s": rows["to_sample"].to_numpy(np.int64) / RATE_HZ,
                    "ic_index": rows["ic_sample"].to_numpy(np.int64),
                    "to_index": rows["to_sample"].to_numpy(np.int64),
                    "contact_time_s": (rows["to_sample"] - rows["ic_sample"]).to_numpy(np.int64) / RATE_HZ,
                }
            )
            meta["truth_contacts"] = "vertical GRF > 5 % body weight (complete contacts ≥ 50 ms)"
        if grf is not None:
            truth["grf"] = pd.DataFrame({"t_s": t_s, "grf_v_bw": grf[i]})
        block = SampleBlock(t_s, acc)
        recordings.append(
            Recording.from_samples(block, f"{path}#{i + 1}", rate_hz=RATE_HZ, meta=meta, truth=truth)
        )
    return recordings
