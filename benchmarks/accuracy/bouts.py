"""Accuracy of the activity-bout stage (running / walking / other) on real recordings.

Run: ``.venv/bin/python -m benchmarks.accuracy.bouts`` (data from ``$IMU_SHARED_DATA`` or
``../shared/data``). Writes ``benchmarks/results/accuracy_bouts.json`` and ``accuracy_bouts.md``.

Truth and splits (fixed before tuning):

- SisFall (waist belt, 200 Hz): one activity label per 100 s file: D01/D02 walking slowly/quickly,
  D03/D04 jogging slowly/quickly. Every rule parameter of :class:`imu.gait.bouts.BoutSettings` was chosen on
  the young subjects SA01–SA06 only; reported on SA07–SA11 (young) and SE01–SE07 (60–75 y) separately.
  The files have no standing labels: every window of a walking file counts as walking, so a real pause
  classified "other" counts as an error here.
- voisard2023 (L5, 100 Hz, walking with a U-turn, not used for tuning): where labelled gait events (toe-off
  and initial contact of either foot) follow each other within ``MAX_EVENT_SPACING_S`` the truth is walking
  (the U-turn included); elsewhere the subject stands (some trials hold a standing pause between the
  labelled events). Windows within ``TRANSITION_S`` of a start or stop count for neither.
- alcantara2022 (sacrum, 500 Hz, 31 treadmill running trials of 5 s, not used for tuning): all running.

Per-window accuracy: the stage's bout kind at the centre of every ``WINDOW_S`` window (the bouts are
final; this is only where they are read). Body frame: the vertical is the mean acceleration direction of
the whole recording (SisFall: the belt stays put; voisard: the mean over the first 2 s, when the subject
stands), so these figures do not depend on the automatic body-frame stage. The stage reads only ``acc_v``.

Also: how often the running contact detector's steps survive in walking files once read through the
running bouts (:func:`imu.gait.bouts.within_bouts`), the failure the stage is there to stop.
"""

from __future__ import annotations

import json
import os
import tarfile
import tempfile
from collections import Counter
from collections.abc import Collection
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from imu.gait.body_block import BodyBlock
from imu.gait.bouts import BOUT_KINDS, RUNNING, WALKING, ActivityBouts, BoutSettings, BoutTable, within_bouts
from imu.gait.contact_table import ContactTable
from imu.gait.running import RunningContacts
from imu.samples import Recording

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "benchmarks" / "results"
SISFALL = "sisfall_waist_walk_jog_subset/SisFall_D01-D04_SA01-SA11_SE01-SE07.tar.xz"
WINDOW_S = 1.0
TRANSITION_S = 1.0
MAX_EVENT_SPACING_S = 1.5
TUNE_SUBJECTS = frozenset(f"SA{i:02d}" for i in range(1, 7))


def shared_data() -> Path:
    return Path(os.environ.get("IMU_SHARED_DATA", REPO.parent / "shared" / "data"))


def vertical_body(rec: Recording, still_s: float | None = None) -> BodyBlock:
    """``acc_v`` along the mean acceleration (of the first ``still_s``, or all); other axes zero."""
    s = rec.samples
    part = s.acc if still_s is None else s.acc[s.t_s < s.t_s[0] + still_s]
    up = part.mean(axis=0)
    up /= np.linalg.norm(up)
    body = np.column_stack([np.zeros(len(s)), s.acc @ up, np.zeros(len(s))])
    return BodyBlock(s.t_s, body, None, s.start_index)


def bouts_of(block: BodyBlock, rate_hz: float, settings: BoutSettings | None = None) -> BoutTable:
    stage = ActivityBouts(rate_hz, settings)
    return BoutTable.concat([stage.update(block), stage.flush()])


def window_kinds(
    block: BodyBlock, bouts: BoutTable, t_from: float, t_to: float
) -> tuple[np.ndarray, np.ndarray]:
    """Centres (s) of the ``WINDOW_S`` windows in [t_from, t_to] and the bout kind at each."""
    centres = np.arange(t_from + WINDOW_S / 2, t_to - WINDOW_S / 2 + 1e-9, WINDOW_S)
    index = block.start_index + np.minimum(np.searchsorted(block.t_s, centres), len(block) - 1)
    return centres, bouts.kind_at(index)


def gait_spans(event_t_s: np.ndarray) -> list[tuple[float, float]]:
    """Stretches where labelled gait events follow each other within ``MAX_EVENT_SPACING_S``."""
    t = np.sort(event_t_s)
    breaks = np.flatnonzero(np.diff(t) > MAX_EVENT_SPACING_S)
    starts = np.concatenate([[0], breaks + 1])
    ends = np.concatenate([breaks, [t.shape[0] - 1]])
    return [(float(t[a]), float(t[b])) for a, b in zip(starts, ends, strict=True)]


def tally(kinds: np.ndarray) -> dict[str, int]:
    counts = Counter(kinds.tolist())
    return {k: int(counts.get(k, 0)) for k in BOUT_KINDS}


def _pct(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 2) if whole else float("nan")


# ---------------------------------------------------------------------- SisFall
def sisfall_group(subject: str) -> str:
    if subject in TUNE_SUBJECTS:
        return "tune_SA01-SA06"
    return "test_young_SA07-SA11" if subject.startswith("SA") else "test_elderly_SE01-SE07"


def _empty_group() -> dict[str, Any]:
    return {
        "files": 0,
        "files_majority_right": 0,
        "walking_windows": {k: 0 for k in BOUT_KINDS},
        "running_windows": {k: 0 for k in BOUT_KINDS},
        "walking_files_count": 0,
        "walking_files_with_running_steps": 0,
        "walking_files_with_running_steps_ungated": 0,
    }


def sisfall_recordings(subjects: Collection[str] | None = None) -> list[Recording]:
    """The archive's trials (of ``subjects`` only, if given), sorted by member name, in ONE pass.

    Loading the archive path itself lists the members and then seeks back to each one, and every seek
    back in an .xz stream decompresses again from the start (≈ 40 s for this archive). Here the members
    stream out once into a temporary folder and each file goes through the same SisFall importer.
    """
    from imu.io.load import load_recordings

    recs = []
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(shared_data() / SISFALL, "r|xz") as tar:
        for info in tar:
            name = Path(info.name).name
            parts = name.split("_")
            if not info.isfile() or len(parts) != 3 or (subjects is not None and parts[1] not in subjects):
                continue
            data = tar.extractfile(info)
            if data is not None:
                (Path(tmp) / name).write_bytes(data.read())
        for f in sorted(Path(tmp).glob("*.txt")):
            recs += load_recordings(f)
    return recs


def sisfall(settings: BoutSettings | None = None, subjects: Collection[str] | None = None) -> dict[str, Any]:
    per_group: dict[str, dict[str, Any]] = {}
    for rec in sisfall_recordings(subjects):
        trial = rec.meta["trial"]
        truth = WALKING if trial["activity_code"] in ("D01", "D02") else RUNNING
        block = vertical_body(rec)
        bouts = bouts_of(block, rec.rate_hz, settings)
        _, kinds = window_kinds(block, bouts, float(block.t_s[0]), float(block.t_s[-1]))
        g = per_group.setdefault(sisfall_group(trial["subject"]), _empty_group())
        for k, v in tally(kinds).items():
            g[f"{truth}_windows"][k] += v
        g["files"] += 1
        values, counts = np.unique(kinds, return_counts=True)
        g["files_majority_right"] += int(values[np.argmax(counts)] == truth)
        if truth == WALKING:
            steps = RunningContacts(rec.rate_hz)
            found = ContactTable.concat([steps.update(block), steps.flush()])
            g["walking_files_count"] += 1
            g["walking_files_with_running_steps"] += int(len(within_bouts(found, bouts, RUNNING)) > 0)
            g["walking_files_with_running_steps_ungated"] += int(len(found) > 0)
    for g in per_group.values():
        _score(g)
    return dict(sorted(per_group.items()))


def _score(g: dict[str, Any]) -> None:
    """Per-window accuracy per true kind and balanced over the kinds present."""
    accs = []
    for truth in (WALKING, RUNNING):
        counts = g[f"{truth}_windows"]
        if sum(counts.values()):
            acc = _pct(counts[truth], sum(counts.values()))
            g[f"{truth}_window_accuracy_pct"] = acc
            accs.append(acc)
    g["balanced_window_accuracy_pct"] = round(float(np.mean(accs)), 2)


# ---------------------------------------------------------------------- voisard2023, alcantara2022
def voisard(settings: BoutSettings | None = None) -> dict[str, Any]:
    from imu.io.load import load_recordings

    walk = {k: 0 for k in BOUT_KINDS}
    stand = {k: 0 for k in BOUT_KINDS}
    bouts_total = 0
    trials = 0
    folder = shared_data() / "voisard2023_L5_walking_subjects01-09/GaitData"
    for f in sorted(folder.glob("*_lb.txt")):
        for rec in load_recordings(f):
            block = vertical_body(rec, still_s=2.0)
            bouts = bouts_of(block, rec.rate_hz, settings)
            bouts_total += len(bouts)
            trials += 1
            walking_spans = gait_spans(rec.truth["events"]["t_s"].to_numpy(float))
            centres, kinds = window_kinds(block, bouts, float(block.t_s[0]), float(block.t_s[-1]))
            inside = np.zeros(centres.shape, dtype=bool)
            near = np.zeros(centres.shape, dtype=bool)
            for lo, hi in walking_spans:
                inside |= (centres >= lo + TRANSITION_S) & (centres <= hi - TRANSITION_S)
                near |= (centres > lo - TRANSITION_S) & (centres < hi + TRANSITION_S)
            for k, v in tally(kinds[inside]).items():
                walk[k] += v
            for k, v in tally(kinds[~near]).items():
                stand[k] += v
    return {
        "trials": trials,
        "walking_windows": walk,
        "walking_window_accuracy_pct": _pct(walk[WALKING], sum(walk.values())),
        "walking_windows_called_running_pct": _pct(walk[RUNNING], sum(walk.values())),
        "standing_windows": stand,
        "standing_window_accuracy_pct": _pct(stand["other"], sum(stand.values())),
        "bouts": bouts_total,
        "note": (
            "the files lose packets (single ones mostly); a hole of up to "
            f"{(settings or BoutSettings()).max_short_gap_s} s does not end a bout, a longer one does"
        ),
    }


def alcantara(settings: BoutSettings | None = None) -> dict[str, Any]:
    from benchmarks.accuracy.contacts import running_block, running_recordings

    counts = {k: 0 for k in BOUT_KINDS}
    trials_all_running = 0
    recs = running_recordings()
    for rec in recs:
        block = running_block(rec)
        bouts = bouts_of(block, rec.rate_hz, settings)
        _, kinds = window_kinds(block, bouts, float(block.t_s[0]), float(block.t_s[-1]))
        trials_all_running += int(np.all(kinds == RUNNING))
        for k, v in tally(kinds).items():
            counts[k] += v
    return {
        "trials": len(recs),
        "running_windows": counts,
        "running_window_accuracy_pct": _pct(counts[RUNNING], sum(counts.values())),
        "trials_running_throughout": trials_all_running,
    }


# ---------------------------------------------------------------------- report
def markdown(results: dict[str, Any]) -> str:
    lines = ["# Activity bouts: accuracy", "", "Written by `python -m benchmarks.accuracy.bouts`.", ""]
    lines += [results["note"], "", f"Look-ahead: {results['look_ahead_s']} s.", ""]
    lines += [
        "## SisFall (waist; per-window, 1 s windows)",
        "",
        "| split | files | walking windows → run / walk / other | walking acc % "
        "| jogging windows → run / walk / other | jogging acc % | balanced % | files by majority "
        "| walking files with running steps (gated / ungated) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, g in results["sisfall"].items():
        w, r = g["walking_windows"], g["running_windows"]
        lines.append(
            f"| {name} | {g['files']} | {w[RUNNING]} / {w[WALKING]} / {w['other']} "
            f"| {g['walking_window_accuracy_pct']} | {r[RUNNING]} / {r[WALKING]} / {r['other']} "
            f"| {g['running_window_accuracy_pct']} | {g['balanced_window_accuracy_pct']} "
            f"| {g['files_majority_right']}/{g['files']} | {g['walking_files_with_running_steps']}/"
            f"{g['walking_files_count']} ({g['walking_files_with_running_steps_ungated']}/"
            f"{g['walking_files_count']}) |"
        )
    v, a = results["voisard2023"], results["alcantara2022"]
    lines += [
        "",
        "## voisard2023 (L5 walking, all 52 trials; not used for tuning)",
        "",
        "- walking (labelled events ≤ 1.5 s apart, U-turn included, ±1 s transitions left out): "
        f"run / walk / other = "
        f"{v['walking_windows'][RUNNING]} / {v['walking_windows'][WALKING]} / {v['walking_windows']['other']}"
        f" → {v['walking_window_accuracy_pct']} % walking, "
        f"{v['walking_windows_called_running_pct']} % running",
        f"- standing (no labelled events): run / walk / other = {v['standing_windows'][RUNNING]} / "
        f"{v['standing_windows'][WALKING]} / {v['standing_windows']['other']} → "
        f"{v['standing_window_accuracy_pct']} % other",
        f"- {v['bouts']} bouts in {v['trials']} trials: {v['note']}",
        "",
        "## alcantara2022 (sacrum treadmill running, 31 trials of 5 s; not used for tuning)",
        "",
        f"- run / walk / other = {a['running_windows'][RUNNING]} / {a['running_windows'][WALKING]} / "
        f"{a['running_windows']['other']} → {a['running_window_accuracy_pct']} % running; "
        f"{a['trials_running_throughout']}/{a['trials']} trials running throughout",
        "",
    ]
    return "\n".join(lines)


def main() -> dict[str, Any]:
    settings = BoutSettings()
    results = {
        "note": (
            "Tuned on SisFall SA01–SA06 only. SisFall truth is one label per file (no pauses marked); "
            "voisard2023 and alcantara2022 were not used for tuning."
        ),
        "settings": asdict(settings),
        "look_ahead_s": round(ActivityBouts(200.0, settings).look_ahead_s, 3),
        "sisfall": sisfall(settings),
        "voisard2023": voisard(settings),
        "alcantara2022": alcantara(settings),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "accuracy_bouts.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    (RESULTS / "accuracy_bouts.md").write_text(markdown(results) + "\n")
    return results


if __name__ == "__main__":
    print(markdown(main()))
