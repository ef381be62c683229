"""Accuracy of the contact detectors on the real recordings that have event truth.

Run: ``.venv/bin/python -m benchmarks.accuracy.contacts`` (data from ``$IMU_SHARED_DATA`` or
``../shared/data``). Writes ``benchmarks/results/accuracy_contacts.json`` and ``accuracy_contacts.md``.

Splits (fixed before tuning; every rule parameter was chosen on the tuning split only):

- running, alcantara2022 (ONE runner, 31 treadmill trials of 5 s, 2.5–4.17 m/s, slopes −10° to +10°):
  tuning = even trial indices (0, 2, …, 30 in file order), test = odd. Truth: vertical GRF > 5 % BW.
- walking, voisard2023 (L5 sensor, 100 Hz, in the body frame found by BodyFrameStage as the pipeline runs
  it): tuning = subjects 1–5, test = subjects 6–9. Truth: manually
  checked initial contacts of both feet (PacketCounter time axis, by the importer).

Matching: one-to-one, nearest pairs first, within ± ``tolerance_s`` (stated in each result). Running
detections count as false positives only inside the span the truth covers (first IC − tolerance to last
TO + tolerance), because the truth keeps only contacts complete within the 5 s window. Walking detections
count inside the labelled walk (first − tolerance to last labelled event + tolerance), or inside the trial
bounds (see :func:`walking_score`); both are reported, with and without the U-turn. Timing error =
detected − true. 95 % CIs: bootstrap over trials (clusters), 2000 resamples, fixed seed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from imu.gait.body_block import BodyBlock
from imu.gait.contact_table import ContactTable
from imu.gait.frame import BodyFrameStage, concat_body
from imu.gait.running import RunningContacts, RunningContactSettings
from imu.gait.walking import WalkingContacts, WalkingContactSettings
from imu.samples import Recording

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "benchmarks" / "results"
ALCANTARA = "alcantara2022_sacral_running_grf/data/Accelerometer_one_sub.csv"
VOISARD = "voisard2023_L5_walking_subjects01-09/GaitData"
RUNNING_TOLERANCE_S = 0.05
WALKING_TOLERANCE_S = 0.1
WALKING_TUNE_SUBJECTS = frozenset(range(1, 6))
BOOTSTRAP_RESAMPLES = int(os.environ.get("IMU_BOOTSTRAP", "2000"))


def shared_data() -> Path:
    return Path(os.environ.get("IMU_SHARED_DATA", REPO.parent / "shared" / "data"))


# ---------------------------------------------------------------------- recordings as body-frame blocks
def running_block(rec: Recording) -> BodyBlock:
    """alcantara2022 with its stated mounting: ``acc_x`` = V (up), ``acc_y`` = AP."""
    acc = rec.samples.acc
    body = np.column_stack([acc[:, 1], acc[:, 0], np.zeros(len(rec.samples))])
    return BodyBlock(rec.samples.t_s, body, None, rec.samples.start_index)


def body_frame(rec: Recording) -> BodyBlock:
    """The recording in the body frame found by :class:`imu.gait.frame.BodyFrameStage` (no stated mounting),
    as the analysis pipeline sees it: walking ICs are measured on the frame the program finds itself."""
    stage = BodyFrameStage(rec.rate_hz)
    return concat_body([stage.update(rec.samples), stage.flush()])


def detect(stage: Any, block: BodyBlock) -> ContactTable:
    """Batch = the streaming stage over one block, then flush."""
    return ContactTable.concat([stage.update(block), stage.flush()])


# ---------------------------------------------------------------------- matching and figures
def match(detected_s: np.ndarray, true_s: np.ndarray, tolerance_s: float) -> list[tuple[int, int]]:
    """One-to-one pairs (detected index, true index), nearest first, each within the tolerance."""
    if detected_s.size == 0 or true_s.size == 0:
        return []
    diff = np.abs(detected_s[:, None] - true_s[None, :])
    order = np.argsort(diff, axis=None, kind="stable")
    used_d: set[int] = set()
    used_t: set[int] = set()
    pairs = []
    for flat in order:
        i, j = divmod(int(flat), true_s.size)
        if diff[i, j] > tolerance_s:
            break
        if i not in used_d and j not in used_t:
            used_d.add(i)
            used_t.add(j)
            pairs.append((i, j))
    return pairs


@dataclass
class TrialResult:
    """What one trial contributes: counts and per-matched-event errors in seconds."""

    name: str
    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0
    ic_error_s: list[float] = field(default_factory=list)
    to_error_s: list[float] = field(default_factory=list)
    contact_error_s: list[float] = field(default_factory=list)
    cadence_error_spm: float = float("nan")


def _f1(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")


def _ci(trials: Sequence[TrialResult], stat: Callable[[Sequence[TrialResult]], float]) -> list[float]:
    rng = np.random.default_rng(0)
    values = []
    for _ in range(BOOTSTRAP_RESAMPLES):
        pick = rng.integers(0, len(trials), len(trials))
        values.append(stat([trials[k] for k in pick]))
    lo, hi = np.nanpercentile(values, [2.5, 97.5])
    return [round(float(lo), 4), round(float(hi), 4)]


def _pooled(trials: Sequence[TrialResult], key: str) -> np.ndarray:
    return np.abs(np.concatenate([np.asarray(getattr(t, key), dtype=float) for t in trials] or [np.empty(0)]))


def summarise(trials: Sequence[TrialResult], tolerance_s: float, *, with_to: bool) -> dict[str, Any]:
    """F1, timing error median |e| and p95 (ms), contact-time MAE (ms), counts and bootstrap CIs."""

    def f1(ts: Sequence[TrialResult]) -> float:
        return _f1(
            *(
                sum(getattr(t, k) for t in ts)
                for k in ("true_positives", "false_positives", "false_negatives")
            )
        )

    def median_ms(key: str) -> Callable[[Sequence[TrialResult]], float]:
        return lambda ts: float(np.median(_pooled(ts, key)) * 1000) if _pooled(ts, key).size else float("nan")

    def p95_ms(key: str) -> Callable[[Sequence[TrialResult]], float]:
        return lambda ts: (
            float(np.percentile(_pooled(ts, key), 95) * 1000) if _pooled(ts, key).size else float("nan")
        )

    def mae_ms(ts: Sequence[TrialResult]) -> float:
        e = _pooled(ts, "contact_error_s")
        return float(e.mean() * 1000) if e.size else float("nan")

    out: dict[str, Any] = {
        "tolerance_s": tolerance_s,
        "trials": len(trials),
        "true_events": sum(t.true_positives + t.false_negatives for t in trials),
        "detected_events": sum(t.true_positives + t.false_positives for t in trials),
        "matched_events": sum(t.true_positives for t in trials),
        "ic_f1": round(f1(trials), 4),
        "ic_f1_ci95": _ci(trials, f1),
        "ic_median_abs_error_ms": round(median_ms("ic_error_s")(trials), 2),
        "ic_median_abs_error_ms_ci95": _ci(trials, median_ms("ic_error_s")),
        "ic_p95_abs_error_ms": round(p95_ms("ic_error_s")(trials), 2),
        "ic_p95_abs_error_ms_ci95": _ci(trials, p95_ms("ic_error_s")),
        "ic_bias_ms": round(
            float(np.median(np.concatenate([t.ic_error_s for t in trials] or [[]])) * 1000), 2
        ),
    }
    if with_to:
        out |= {
            "to_median_abs_error_ms": round(median_ms("to_error_s")(trials), 2),
            "to_median_abs_error_ms_ci95": _ci(trials, median_ms("to_error_s")),
            "to_p95_abs_error_ms": round(p95_ms("to_error_s")(trials), 2),
            "to_p95_abs_error_ms_ci95": _ci(trials, p95_ms("to_error_s")),
            "to_bias_ms": round(float(np.median(np.concatenate([t.to_error_s for t in trials])) * 1000), 2),
            "contact_time_mae_ms": round(mae_ms(trials), 2),
            "contact_time_mae_ms_ci95": _ci(trials, mae_ms),
        }
    cadence = np.abs([t.cadence_error_spm for t in trials if np.isfinite(t.cadence_error_spm)])
    if cadence.size:
        out |= {
            "cadence_trial_mae_spm": round(float(cadence.mean()), 3),
            "cadence_trial_max_abs_error_spm": round(float(cadence.max()), 3),
        }
    return out


# ---------------------------------------------------------------------- running (alcantara2022)
def running_recordings() -> list[Recording]:
    from imu.io.load import load_recordings

    return load_recordings(shared_data() / ALCANTARA)


def running_trial(rec: Recording, settings: RunningContactSettings | None = None) -> TrialResult:
    found = detect(RunningContacts(rec.rate_hz, settings), running_block(rec))
    truth = rec.truth["contacts"]
    ic_true = truth["t_ic_s"].to_numpy(float)
    to_true = truth["t_to_s"].to_numpy(float)
    tol = RUNNING_TOLERANCE_S
    inside = (found.ic_t_s >= ic_true[0] - tol) & (found.ic_t_s <= to_true[-1] + tol)
    ic, to = found.ic_t_s[inside], found.to_t_s[inside]
    pairs = match(ic, ic_true, tol)
    res = TrialResult(rec.source, len(pairs), int(inside.sum()) - len(pairs), ic_true.size - len(pairs))
    for i, j in pairs:
        res.ic_error_s.append(ic[i] - ic_true[j])
        res.to_error_s.append(to[i] - to_true[j])
        res.contact_error_s.append((to[i] - ic[i]) - (to_true[j] - ic_true[j]))
    if ic.size > 1:  # the trial's cadence: steps per minute over its span of contacts
        res.cadence_error_spm = _cadence_spm(ic) - _cadence_spm(ic_true)
    return res


def _cadence_spm(ic_s: np.ndarray) -> float:
    return float(60.0 * (ic_s.size - 1) / (ic_s[-1] - ic_s[0]))


def running_split(
    recs: Sequence[Recording], test: bool, settings: RunningContactSettings | None = None
) -> list[TrialResult]:
    """Odd trial indices when ``test``, even ones (the tuning half) otherwise."""
    return [
        running_trial(r, settings)
        for r in recs
        if r.meta["trial"]["index_in_source"] % 2 == (1 if test else 0)
    ]


# ---------------------------------------------------------------------- walking (voisard2023)
def walking_recordings() -> list[Recording]:
    from imu.io.load import load_recordings

    folder = shared_data() / VOISARD
    return [r for f in sorted(folder.glob("*_lb.txt")) for r in load_recordings(f)]


def walking_detections(rec: Recording, settings: WalkingContactSettings | None = None) -> ContactTable:
    """The walking stage over the body frame the program finds itself (as the pipeline runs it)."""
    return detect(WalkingContacts(rec.rate_hz, settings), body_frame(rec))


def walking_score(
    rec: Recording, found: ContactTable, *, straight_only: bool = False, within_trial: bool = False
) -> TrialResult:
    """Match detected against labelled ICs of both feet.

    Scored span: from the first to the last labelled event (± tolerance), or with ``within_trial`` the
    trial's own ``TrialBoundaries`` (± tolerance): some trials carry a few labelled events many seconds
    after the walk ended (e.g. 3-3: the walk ends at 29.45 s, two more ICs at 40.8 and 41.5 s) while the
    steps around them are not labelled, so detections there count as false positives under the first
    protocol whatever they are. ``straight_only`` leaves out truth and detections inside the U-turn.
    """
    events = rec.truth["events"]
    ic_true = np.sort(events.loc[events["event"] == "IC", "t_s"].to_numpy(float))
    tol = WALKING_TOLERANCE_S
    if within_trial:
        first, last = (b + d for b, d in zip(rec.meta["subject"]["trial_bounds_s"], (-tol, tol), strict=True))
        ic_true = ic_true[(ic_true >= first) & (ic_true <= last)]
    else:
        first, last = events["t_s"].min() - tol, events["t_s"].max() + tol
    ic = found.ic_t_s[(found.ic_t_s >= first) & (found.ic_t_s <= last)]
    if straight_only:
        u0, u1 = rec.meta["subject"]["uturn_bounds_s"]
        ic_true = ic_true[(ic_true < u0) | (ic_true > u1)]
        ic = ic[(ic < u0 - tol) | (ic > u1 + tol)]
    pairs = match(ic, ic_true, tol)
    res = TrialResult(rec.source, len(pairs), ic.size - len(pairs), ic_true.size - len(pairs))
    res.ic_error_s = [ic[i] - ic_true[j] for i, j in pairs]
    return res


# ---------------------------------------------------------------------- report
def markdown(results: dict[str, Any]) -> str:
    lines = ["# Contact detection accuracy", "", "Written by `python -m benchmarks.accuracy.contacts`.", ""]
    lines += [results["note"], ""]
    keys = [
        "trials",
        "true_events",
        "detected_events",
        "matched_events",
        "ic_f1",
        "ic_median_abs_error_ms",
        "ic_p95_abs_error_ms",
        "ic_bias_ms",
        "to_median_abs_error_ms",
        "to_p95_abs_error_ms",
        "to_bias_ms",
        "contact_time_mae_ms",
        "cadence_trial_mae_spm",
        "cadence_trial_max_abs_error_spm",
    ]
    for name, res in results["splits"].items():
        lines += [
            f"## {name} (±{res['tolerance_s'] * 1000:.0f} ms matching)",
            "",
            "| figure | value | 95 % CI |",
        ]
        lines.append("|---|---|---|")
        for k in keys:
            if k in res:
                ci = res.get(f"{k}_ci95")
                lines.append(f"| {k} | {res[k]} | {'' if ci is None else f'{ci[0]} – {ci[1]}'} |")
        lines.append("")
    return "\n".join(lines)


def walking_splits(walk: Sequence[Recording]) -> dict[str, Any]:
    """Tuning and test halves under each scoring protocol; the stage runs once per recording."""
    found = [walking_detections(r) for r in walk]
    tol = WALKING_TOLERANCE_S

    def split(test: bool, **protocol: bool) -> dict[str, Any]:
        trials = [
            walking_score(r, f, **protocol)
            for r, f in zip(walk, found, strict=True)
            if (r.meta["trial"]["subject"] not in WALKING_TUNE_SUBJECTS) == test
        ]
        return summarise(trials, tol, with_to=False)

    return {
        "walking_tune (voisard2023 subjects 1-5, all labelled events)": split(False),
        "walking_tune_trial (subjects 1-5, within the trial bounds)": split(False, within_trial=True),
        "walking_test (voisard2023 subjects 6-9, all labelled events)": split(True),
        "walking_test_straight (subjects 6-9, all labelled events, U-turn left out)": split(
            True, straight_only=True
        ),
        "walking_test_trial (subjects 6-9, within the trial bounds)": split(True, within_trial=True),
        "walking_test_trial_straight (subjects 6-9, within the trial bounds, U-turn left out)": split(
            True, within_trial=True, straight_only=True
        ),
    }


def main() -> dict[str, Any]:
    run = running_recordings()
    tol_r = RUNNING_TOLERANCE_S
    splits: dict[str, Any] = {
        "running_tune (alcantara2022 even trials)": summarise(running_split(run, False), tol_r, with_to=True),
        "running_test (alcantara2022 odd trials)": summarise(running_split(run, True), tol_r, with_to=True),
        **walking_splits(walking_recordings()),
    }
    results = {
        "note": (
            "Running: ONE runner (alcantara2022), pre-filtered 20 Hz and clipped at 0 g by its authors; "
            "tuned on even trials, reported on odd. Walking: voisard2023 L5, tuned on subjects 1–5, "
            "reported on 6–9, on the body frame found by BodyFrameStage (no stated mounting). "
            "'All labelled events' scores from the first to the last labelled event; 'within the trial "
            "bounds' scores inside each trial's TrialBoundaries (a few trials carry stray labels seconds "
            "after the walk, with the steps around them unlabelled). CIs: bootstrap over trials."
        ),
        "running_settings": asdict(RunningContactSettings()),
        "walking_settings": asdict(WalkingContactSettings()),
        "splits": splits,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "accuracy_contacts.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    (RESULTS / "accuracy_contacts.md").write_text(markdown(results) + "\n")
    return results


if __name__ == "__main__":
    print(markdown(main()))
