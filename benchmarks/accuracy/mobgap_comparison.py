"""Accuracy side by side: our contact and side stages against mobgap's IcdIonescu and LrcMcCamley.

Run: ``.venv/bin/python -m benchmarks.accuracy.mobgap_comparison`` (needs ``pip install -e .[bench]``;
prints why and exits 0 when mobgap is missing). Writes ``benchmarks/results/accuracy_mobgap.json`` and
``.md``. Both sides are run in the same process on the same recordings and the same test splits as
:mod:`benchmarks.accuracy.contacts` and :mod:`benchmarks.accuracy.sides`, and scored with their functions
(``match``, ``walking_score``, ``summarise``, ``truth_steps``, ``score``): one-to-one matching, nearest
pairs first, ±50 ms running, ±100 ms walking.

What mobgap is given, as its documentation says (guides ``coordinate_system.md`` and
``common_datatypes.md``; class docstrings of ``IcdIonescu`` and ``LrcMcCamley``, mobgap 1.2):

- Body-frame columns ``acc_is, acc_ml, acc_pa`` (m/s², gravity included) and ``gyr_is, gyr_ml, gyr_pa``
  (deg/s): IS inferior → superior, PA posterior → anterior, ML completing a right-handed frame, i.e.
  ``ml = pa × is`` = to the right. Our body frame (:mod:`imu.constants`) is the same right-handed frame
  named differently (``ap`` forward, ``v`` up, ``ml`` to the right), so the mapping is a renaming with no
  sign change: ``acc_is = acc_v``, ``acc_pa = acc_ap``, ``acc_ml = acc_ml``, the same for ``gyr``.
- Defaults only: ``IcdIonescu()`` (it resamples to 40 Hz itself, so any input rate is accepted) and
  ``LrcMcCamley()`` (``axis="combined"``: ``gyr_is − gyr_pa`` band-passed 0.5–2 Hz, sign at the IC).
- The whole trial as one gait sequence. mobgap's own pipeline runs both per gait sequence found by its
  GSD stage; we give it no GSD, and our detectors get the same whole trial.
- IC sample indices are mapped back to time through the recording's own time axis (``t_s[index]``).

Frames. walking (voisard2023, L5, 100 Hz, six axes): ``auto`` = the causal body frame our pipeline finds
itself (:class:`imu.gait.frame.BodyFrameStage`, what our contacts and sides benchmarks report);
``mounting`` = up from the trial's mean acceleration, forward along the sensor's −z axis made horizontal
(:func:`benchmarks.accuracy.sides.mounting_frame`): the fixed sensor-to-body alignment mobgap's docs
assume. Both programs get both frames. Running (alcantara2022, sacrum, 500 Hz, biaxial, no gyroscope):
the stated mounting (``acc_x`` = V, ``acc_y`` = AP, ML = 0; :func:`benchmarks.accuracy.contacts.
running_block`), so ``acc_is`` is the true vertical. mobgap is given it at 500 Hz (its ``Resample`` takes
it to 40 Hz), and, as a check that the rate does not matter, resampled first to 100 Hz (the Mobilise-D
rate) with mobgap's own ``Resample``. LrcMcCamley needs a gyroscope and the running data have none (nor
any side truth), so sides are compared on walking only.

Sides are scored as in :mod:`benchmarks.accuracy.sides` (``?`` counts as not correct) on the TRUE
contacts, and end to end on each program's OWN contacts: own contacts matched one-to-one to the labelled
ones (±100 ms), side correct on the matched ones, and correct / labelled (what a user gets).
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.accuracy import contacts, sides
from imu.gait.body_block import AP, ML, BodyBlock, V
from imu.gait.contact_table import NO_INDEX, ContactTable
from imu.gait.sides import StepSide
from imu.gait.walking import WalkingContacts
from imu.samples import Recording

RESULTS = contacts.RESULTS
MOBGAP_RATE_HZ = 100.0
"""The rate of the Mobilise-D recordings, used for the resampled running check."""
WALK_PROTOCOLS = {"all_labelled": {}, "within_trial": {"within_trial": True}}
"""The two scored spans of :func:`benchmarks.accuracy.contacts.walking_score`."""
WALK_FRAMES = ("auto", "mounting")


def mobgap_missing() -> str | None:
    """Why mobgap cannot be used here, or None when it can."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import mobgap.initial_contacts
            import mobgap.laterality  # noqa: F401
    except ImportError as exc:
        return f"mobgap not installed ({exc}); pip install -e .[bench]"
    return None


# ---------------------------------------------------------------------------------------------- mobgap
def to_mobgap(body: BodyBlock) -> pd.DataFrame:
    """Our body frame (ap, v, ml; right-handed, ml to the right) as mobgap's body frame (is, ml, pa)."""
    columns = {"acc_is": body.acc[:, V], "acc_ml": body.acc[:, ML], "acc_pa": body.acc[:, AP]}
    if body.gyr is not None:
        columns |= {"gyr_is": body.gyr[:, V], "gyr_ml": body.gyr[:, ML], "gyr_pa": body.gyr[:, AP]}
    return pd.DataFrame(columns)


def mobgap_ics(data: pd.DataFrame, rate_hz: float) -> np.ndarray:
    """IcdIonescu with its defaults: IC sample indices into ``data`` (int64)."""
    from mobgap.initial_contacts import IcdIonescu

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = IcdIonescu().detect(data, sampling_rate_hz=rate_hz).ic_list_
    return np.asarray(found["ic"].to_numpy(), dtype=np.int64)


def mobgap_sides(body: BodyBlock, data: pd.DataFrame, ic: np.ndarray, rate_hz: float) -> list[StepSide]:
    """LrcMcCamley with its defaults on ``data`` (``body`` in mobgap's frame) at IC sample indices into
    ``body``, as our StepSide (it gives a label only: ``p_right`` 0 or 1, no evidence)."""
    from mobgap.laterality import LrcMcCamley

    ic_list = pd.DataFrame({"ic": ic}).rename_axis(index="step_id")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        labels = LrcMcCamley().predict(data, ic_list, sampling_rate_hz=rate_hz).ic_lr_list_["lr_label"]
    right = np.asarray(labels == "right")
    return [
        StepSide(
            int(i) + body.start_index, float(body.t_s[i]), "R" if r else "L", float(r), 1.0, float("nan")
        )
        for i, r in zip(ic, right, strict=True)
    ]


def mobgap_running_ic_s(rec: Recording, resample_hz: float | None = None) -> np.ndarray:
    """IcdIonescu on the true vertical of a running trial, at the native rate or resampled first."""
    data = to_mobgap(contacts.running_block(rec))[["acc_is"]]
    t_s = rec.samples.t_s
    if resample_hz is None:
        return t_s[mobgap_ics(data, rec.rate_hz)]
    from mobgap.data_transform import Resample

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        low = Resample(resample_hz, attempt_index_resample=False).transform(
            data, sampling_rate_hz=rec.rate_hz
        )
    return t_s[0] + mobgap_ics(low.transformed_data_, resample_hz) / resample_hz


# ---------------------------------------------------------------------------------------------- scoring
def running_ic_score(rec: Recording, ic_s: np.ndarray) -> contacts.TrialResult:
    """The IC part of :func:`benchmarks.accuracy.contacts.running_trial` for any detector's IC times:
    detections count inside the span the truth covers, matched one-to-one within ±50 ms."""
    truth = rec.truth["contacts"]
    ic_true = truth["t_ic_s"].to_numpy(float)
    to_true = truth["t_to_s"].to_numpy(float)
    tol = contacts.RUNNING_TOLERANCE_S
    ic = np.sort(ic_s[(ic_s >= ic_true[0] - tol) & (ic_s <= to_true[-1] + tol)])
    pairs = contacts.match(ic, ic_true, tol)
    res = contacts.TrialResult(rec.source, len(pairs), ic.size - len(pairs), ic_true.size - len(pairs))
    res.ic_error_s = [ic[i] - ic_true[j] for i, j in pairs]
    if ic.size > 1:
        res.cadence_error_spm = contacts._cadence_spm(ic) - contacts._cadence_spm(ic_true)
    return res


def as_contacts(body: BodyBlock, ic: np.ndarray) -> ContactTable:
    """IC sample indices into ``body`` as a ContactTable (IC columns only), for ``walking_score``."""
    nan, none = np.full(ic.size, np.nan), np.full(ic.size, NO_INDEX)
    figures = (
        "contact_time_s",
        "flight_time_s",
        "step_time_s",
        "cadence_spm",
        "impact_g",
        "loading_rate_g_s",
    )
    return ContactTable(
        ic_index=ic + body.start_index,
        ic_t_s=body.t_s[ic],
        to_index=none,
        to_t_s=nan,
        **dict.fromkeys(figures, nan),
    )


def own_contact_sides(
    rec: Recording, body: BodyBlock, ic: np.ndarray, side: Sequence[StepSide]
) -> dict[str, int]:
    """Sides given a program's own ICs (sample indices into ``body``): matched to the labelled ICs."""
    true_ic, true_side = sides.truth_steps(rec)
    true_t = body.t_s[true_ic - body.start_index]
    pairs = contacts.match(body.t_s[ic], true_t, contacts.WALKING_TOLERANCE_S)
    correct = sum(side[i].side == true_side[j] for i, j in pairs)
    return {
        "labelled": int(true_ic.size),
        "detected": int(ic.size),
        "matched": len(pairs),
        "correct": correct,
    }


def own_summary(counts: list[dict[str, int]]) -> dict[str, Any]:
    total = {k: sum(c[k] for c in counts) for k in ("labelled", "detected", "matched", "correct")}
    return total | {
        "correct_of_matched_pct": round(100 * total["correct"] / total["matched"], 2),
        "correct_of_matched_ci95_pct": sides.wilson_pct(total["correct"], total["matched"]),
        "correct_of_labelled_pct": round(100 * total["correct"] / total["labelled"], 2),
    }


# ---------------------------------------------------------------------------------------------- runs
def compare_running(recs: Sequence[Recording]) -> dict[str, Any]:
    """alcantara2022 odd trials (the test half): ours, mobgap at 500 Hz, mobgap at 100 Hz."""
    test = [r for r in recs if r.meta["trial"]["index_in_source"] % 2 == 1]
    tol = contacts.RUNNING_TOLERANCE_S

    def mobgap(rate: float | None) -> list[contacts.TrialResult]:
        return [running_ic_score(r, mobgap_running_ic_s(r, rate)) for r in test]

    return {
        "ours": contacts.summarise(contacts.running_split(recs, True), tol, with_to=True),
        "mobgap_native_500hz": contacts.summarise(mobgap(None), tol, with_to=False),
        "mobgap_resampled_100hz": contacts.summarise(mobgap(MOBGAP_RATE_HZ), tol, with_to=False),
    }


def compare_walking(recs: Sequence[Recording]) -> dict[str, Any]:
    """voisard2023 subjects 6–9 (the test half) in both frames: contacts under both scored spans, sides on
    the true contacts and on each program's own contacts."""
    test = [r for r in recs if r.meta["trial"]["subject"] not in contacts.WALKING_TUNE_SUBJECTS]
    tol = contacts.WALKING_TOLERANCE_S
    out: dict[str, Any] = {"trials": len(test)}
    for frame in WALK_FRAMES:
        ic_trials: dict[str, dict[str, list[contacts.TrialResult]]] = {
            who: {p: [] for p in WALK_PROTOCOLS} for who in ("ours", "mobgap")
        }
        true_counts: dict[str, dict[str, list[dict[str, int]]]] = {}
        own_counts: dict[str, list[dict[str, int]]] = {}
        for rec in test:
            mounting = sides.mounting_frame(rec) if frame == "mounting" else None
            body, frame_stage = sides.body_of(rec, mounting)
            data = to_mobgap(body)
            ours = contacts.detect(WalkingContacts(rec.rate_hz), body)
            mob_ic = mobgap_ics(data, rec.rate_hz)
            for who, found in (("ours", ours), ("mobgap", as_contacts(body, mob_ic))):
                for p, protocol in WALK_PROTOCOLS.items():
                    ic_trials[who][p].append(contacts.walking_score(rec, found, **protocol))
            true_ic, true_side = sides.truth_steps(rec)
            inside = sides.in_trial(rec, true_ic)
            given = dict(sides.sides_of(body, true_ic, rec.rate_hz, frame=frame_stage))
            given["mobgap"] = mobgap_sides(body, data, true_ic - body.start_index, rec.rate_hz)
            for who, found_sides in given.items():
                counts = true_counts.setdefault(who, {"all": [], "in_trial": []})
                counts["all"].append(sides.score(found_sides, true_side))
                counts["in_trial"].append(sides.score(found_sides, true_side, inside))
            our_ic = ours.ic_index - body.start_index
            for kind, found_sides in sides.sides_of(
                body, ours.ic_index, rec.rate_hz, frame=frame_stage
            ).items():
                own_counts.setdefault(kind, []).append(own_contact_sides(rec, body, our_ic, found_sides))
            mob_sides = mobgap_sides(body, data, mob_ic, rec.rate_hz)
            own_counts.setdefault("mobgap", []).append(own_contact_sides(rec, body, mob_ic, mob_sides))
        out[frame] = {
            "contacts": {
                who: {p: contacts.summarise(t, tol, with_to=False) for p, t in per.items()}
                for who, per in ic_trials.items()
            },
            "sides_true_contacts": {
                who: {subset: sides.summarise(c) for subset, c in per.items()}
                for who, per in true_counts.items()
            },
            "sides_own_contacts": {who: own_summary(c) for who, c in own_counts.items()},
        }
    return out


# ---------------------------------------------------------------------------------------------- report
SIDE_NAMES = {
    "live": "imu SideStage live",
    "smoothed": "imu SideStage smoothed",
    "mobgap": "mobgap LrcMcCamley",
}


def markdown(res: dict[str, Any]) -> str:
    lines = ["# Accuracy side by side: imu against mobgap", "", res["note"], ""]
    run = res["running"]
    lines += [
        "## Running: alcantara2022 odd trials (±50 ms, true vertical)",
        "",
        "| program | true ICs | detected | matched | IC F1 (95 % CI) | median abs e (ms) | p95 abs e (ms) "
        "| bias (ms) | cadence MAE (spm) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    names = {
        "ours": "imu RunningContacts",
        "mobgap_native_500hz": "mobgap IcdIonescu, 500 Hz in",
        "mobgap_resampled_100hz": "mobgap IcdIonescu, resampled to 100 Hz",
    }
    for key, name in names.items():
        lines.append(ic_row(name, run[key]))
    walk = res["walking"]
    lines += ["", f"## Walking: voisard2023 subjects 6–9 ({walk['trials']} trials, ±100 ms)", ""]
    for frame in WALK_FRAMES:
        w = walk[frame]
        lines += [
            f"### Frame `{frame}`",
            "",
            "Initial contacts:",
            "",
            "| program | scored span | true ICs | detected | matched | IC F1 (95 % CI) | median abs e (ms) "
            "| p95 abs e (ms) | bias (ms) |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for who, name in (("ours", "imu WalkingContacts"), ("mobgap", "mobgap IcdIonescu")):
            for p in WALK_PROTOCOLS:
                lines.append(ic_row(f"{name} | {p}", w["contacts"][who][p], cadence=False))
        lines += [
            "",
            "Sides given the TRUE contacts (`?` = not correct):",
            "",
            "| program | steps | correct % (95 % CI) | unsure % | in-trial steps | in-trial correct % |",
            "|---|---|---|---|---|---|",
        ]
        for who, name in SIDE_NAMES.items():
            a, t = w["sides_true_contacts"][who]["all"], w["sides_true_contacts"][who]["in_trial"]
            lines.append(
                f"| {name} | {a['steps']} | {a['correct_pct']} {a['correct_ci95_pct']} | {a['unsure_pct']} "
                f"| {t['steps']} | {t['correct_pct']} |"
            )
        lines += [
            "",
            "Sides given each program's OWN contacts (matched one-to-one to the labelled ICs, ±100 ms):",
            "",
            "| program | labelled | detected | matched | correct of matched % (95 % CI) "
            "| correct of labelled % |",
            "|---|---|---|---|---|---|",
        ]
        for who, name in SIDE_NAMES.items():
            o = w["sides_own_contacts"][who]
            lines.append(
                f"| {name} | {o['labelled']} | {o['detected']} | {o['matched']} | "
                f"{o['correct_of_matched_pct']} {o['correct_of_matched_ci95_pct']} | "
                f"{o['correct_of_labelled_pct']} |"
            )
        lines.append("")
    return "\n".join(lines)


def ic_row(name: str, s: dict[str, Any], cadence: bool = True) -> str:
    row = (
        f"| {name} | {s['true_events']} | {s['detected_events']} | {s['matched_events']} | {s['ic_f1']} "
        f"{s['ic_f1_ci95']} | {s['ic_median_abs_error_ms']} | {s['ic_p95_abs_error_ms']} "
        f"| {s['ic_bias_ms']} |"
    )
    return row + (f" {s.get('cadence_trial_mae_spm', '–')} |" if cadence else "")


NOTE = (
    "Written by `python -m benchmarks.accuracy.mobgap_comparison` (mobgap {version}, defaults, not tuned). "
    "Same recordings, test splits, matching and tolerances as `accuracy_contacts` and `accuracy_sides`, "
    "computed in the same run. mobgap gets our body frame renamed to its own (acc_is = acc_v, "
    "acc_pa = acc_ap, acc_ml = acc_ml, same for gyr; both right-handed, ml to the right), m/s² and deg/s, "
    "the whole trial as one gait sequence (its pipeline would first cut gait sequences with its GSD). "
    "Frame `auto`: the body frame our pipeline finds itself (causal); `mounting`: the fixed sensor "
    "alignment (up from the mean acceleration, forward = sensor −z), the input mobgap's docs assume. "
    "Running: biaxial sacral acc with the stated mounting (acc_is = the true vertical), no gyroscope, so "
    "no LrcMcCamley there (and no side truth). IcdIonescu and LrcMcCamley are walking algorithms. "
    "Not equal footing: our rules were set on the other halves of these same sources (alcantara2022 even "
    "trials, voisard2023 subjects 1–5, same labelling conventions); mobgap's by its authors on other data, "
    "so a constant timing offset against these labels (e.g. an IC convention) counts against it here. "
    "mobgap always names a side; ours may say `?` (counted as not correct)."
)


def main() -> dict[str, Any] | None:
    why = mobgap_missing()
    if why:
        print(f"skipped: {why}")
        return None
    from importlib.metadata import version

    res: dict[str, Any] = {
        "note": NOTE.format(version=version("mobgap")),
        "running": compare_running(contacts.running_recordings()),
        "walking": compare_walking(contacts.walking_recordings()),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "accuracy_mobgap.json").write_text(json.dumps(res, indent=1, ensure_ascii=False) + "\n")
    (RESULTS / "accuracy_mobgap.md").write_text(markdown(res) + "\n")
    return res


if __name__ == "__main__":
    result = main()
    if result is not None:
        print(markdown(result))
    sys.exit(0)
