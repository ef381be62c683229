"""Accuracy of the body-frame finder and the left/right classifier.

Run: ``.venv/bin/python -m benchmarks.accuracy.sides [--sisfall]`` (data from ``$IMU_SHARED_DATA`` or
``../shared/data``; about 20 s, plus about 2 min with ``--sisfall``). Writes
``benchmarks/results/accuracy_sides.json`` and ``accuracy_sides.md`` (without ``--sisfall`` the SisFall
section of the previous results is kept as it was). ``--tune`` refits the side evidence weights on the
tuning split and prints them (they are then written into :class:`imu.gait.sides.SideSettings` by hand);
nothing is fitted on the test split.

Two sides per step, both from :class:`imu.gait.sides.SideStage` and both reported: ``live`` (final within
0.5 s of the contact: evidence window ``[-2T, +min(T, 0.5 s)]``, forward-only HMM over past steps; what
the live dashboard shows) and ``smoothed`` (final after up to 6.5 s: window ``[-2T, +2T]``, forward–backward
HMM with 3 future steps; what the research tables use). The body frame is the causal one of
:class:`imu.gait.frame.BodyFrameStage` (no look-ahead: the first steps after a standing start are rotated
with a frame whose forward axis is not known yet, and their live sides are mostly unsure); its segments go
to the side stage as in the pipeline, so the smoothed side re-rotates those steps into the later frame.

- voisard2023 (walking, L5, 100 Hz, acc + gyr): tuning = subjects 1–5, test = subjects 6–9. Trials 4-1 and
  4-2 (left/right labels suspected swapped: both the roll and the yaw cue flip there) are left out of the
  tuning and reported separately as labelled; they are not in the test split. Steps = the ground-truth
  initial contacts (the running contact detector does not detect walking steps). A step labelled ``?``
  counts as not correct in ``correct_pct``; ``correct_of_sure_pct`` is over the labelled steps only.
  Two step sets: all labelled contacts (``all``), and those inside the trial's ``TrialBoundaries``
  (``in_trial``: the protocol's walk, U-turn, walk back and stop). Outside the boundaries the files hold a
  few short bouts after the protocol's stop (2–5 steps after seconds of standing), some with impossible
  label sequences (6-4: two right swings 0.58 s apart); the stage is always fed every labelled contact,
  only the scoring differs. ``misses`` says where the steps that are not correct lie. ``reliability``
  bins the tuning split's posteriors by confidence (is a 0.9 posterior right 90 % of the time?).
  Conditions: frame found automatically (the target), frame from the mounting (up from gravity, forward
  along the sensor's −z axis, as the Xsens sits on the back), and acceleration only (gyroscope dropped).
  Forward sign per trial: correct when the found forward axis at the trial's last step lies within 90° of
  the mounting's forward axis.
- SisFall (waist belt, 200 Hz, no event truth): the mode threshold of the frame finder was chosen on the
  young subjects (SA); figures are given for SA and the elderly (SE) separately. Checks: the found up
  against the sensor's −y axis (vertical when upright per PROVENANCE), the stability of the forward axis
  after 20 s, the confidence, and whether the forward axis found in a subject's jogging trials agrees with
  the one found in the same subject's walking trials (same belt, same mounting).
- Simulated runner (``imu.sim``, random mountings, known sides; seeds 2001–2008, never looked at while
  the side model was built, which used seeds 101–104): heading error = angle between the found
  forward axis and the true pelvis ap axis made horizontal (the pelvis ap axis itself is tilted by the
  mean pelvic tilt, which a gravity-levelled frame does not follow);
  sides with the true contacts and end to end with :class:`imu.gait.running.RunningContacts`, with and
  without the gyroscope. The simulator's cue signs (pelvic roll, yaw and sway relative to the contact) are
  a model assumption from the running literature, not a measurement.

95 % CIs of percentages: Wilson score intervals over steps (steps of one trial are not independent, so
the intervals are optimistic; the per-trial counts are listed too).
"""

from __future__ import annotations

import argparse
import json
import os
import tarfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize

from imu.gait.body_block import BodyBlock
from imu.gait.frame import BodyFrameStage, Mounting, concat_body
from imu.gait.sides import SideSettings, SideStage, StepSide
from imu.gait.stage import run_batch
from imu.samples import Recording, SampleBlock

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "benchmarks" / "results"
VOISARD = "voisard2023_L5_walking_subjects01-09/GaitData"
SISFALL = "sisfall_waist_walk_jog_subset/SisFall_D01-D04_SA01-SA11_SE01-SE07.tar.xz"
SUSPECT_TRIALS = ("4-1", "4-2")
SIM_SEEDS = tuple(range(2001, 2009))
SIM_MINUTES = 1.0
MATCH_TOLERANCE_S = 0.05


def shared_data() -> Path:
    return Path(os.environ.get("IMU_SHARED_DATA", REPO.parent / "shared" / "data"))


def wilson_pct(k: int, n: int) -> list[float]:
    """Wilson score 95 % interval of k successes in n, in percent."""
    if n == 0:
        return [float("nan"), float("nan")]
    z, p = 1.959964, k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [round(100 * float(centre - half), 2), round(100 * float(centre + half), 2)]


# ---------------------------------------------------------------------------------------------- voisard
def voisard_trials(root: Path) -> list[tuple[str, Recording]]:
    from imu.io.load import load_recording

    files = sorted(root.glob("*_lb.txt"), key=lambda p: tuple(int(x) for x in p.name[:-7].split("-")))
    return [(p.name[:-7], load_recording(p)) for p in files]


def truth_steps(rec: Recording) -> tuple[np.ndarray, np.ndarray]:
    """Absolute sample indices and sides ('L'/'R') of the labelled initial contacts inside the signal."""
    ev = rec.truth["events"]
    ic = ev[ev["event"] == "IC"]
    t = rec.samples.t_s
    inside = (ic["t_s"] >= t[0]) & (ic["t_s"] <= t[-1])
    idx = np.searchsorted(t, ic["t_s"][inside].to_numpy())
    idx = np.clip(idx, 0, len(t) - 1)
    keep = np.r_[True, np.diff(idx) > 0]
    return idx[keep].astype(np.int64), ic["foot"][inside].to_numpy()[keep]


def in_trial(rec: Recording, ic: np.ndarray) -> np.ndarray:
    """Whether each contact lies inside the trial's ``TrialBoundaries`` (all True when not given)."""
    bounds = rec.meta.get("subject", {}).get("trial_bounds_s")
    t = rec.samples.t_s[ic - rec.samples.start_index]
    if not bounds:
        return np.ones(ic.shape[0], dtype=bool)
    return np.asarray((t >= bounds[0]) & (t <= bounds[1]))


def miss_place(j: int, n: int, t_s: float, rec: Recording, inside: bool) -> str:
    """Where a step that is not correct lies: outside the trial, first/last two labelled, U-turn, mid."""
    uturn = rec.meta.get("subject", {}).get("uturn_bounds_s")
    if not inside:
        return "outside_trial"
    if j < 2:
        return "first_two"
    if j >= n - 2:
        return "last_two"
    if uturn and uturn[0] - 0.5 <= t_s <= uturn[1] + 0.5:
        return "uturn"
    return "mid_walk"


def mounting_frame(rec: Recording) -> Mounting:
    """The reference: up from the trial's mean acceleration, forward along sensor −z made horizontal."""
    up = rec.samples.acc.mean(axis=0)
    up /= np.linalg.norm(up)
    f = np.array([0.0, 0.0, -1.0]) - up * -up[2]
    f /= np.linalg.norm(f)
    return Mounting(np.vstack([f, up, np.cross(f, up)]))


def body_of(rec: Recording, mounting: Mounting | None, gyro: bool = True) -> tuple[BodyBlock, BodyFrameStage]:
    samples = rec.samples if gyro else SampleBlock(rec.samples.t_s, rec.samples.acc, None)
    stage = BodyFrameStage(rec.rate_hz, mounting=mounting)
    return run_batch(stage, samples, concat_body), stage


SIDE_KINDS = ("live", "smoothed")


def sides_of(
    body: BodyBlock,
    ic: np.ndarray,
    rate_hz: float,
    settings: SideSettings | None = None,
    frame: BodyFrameStage | None = None,
) -> dict[str, list[StepSide]]:
    """The live and the smoothed side of every contact (keys :data:`SIDE_KINDS`); with the ``frame`` that
    rotated ``body``, its segments go to the side stage as in :class:`imu.gait.pipeline.GaitPipeline`."""
    stage = SideStage(rate_hz, settings, smoothed=True)
    live = stage.update(body, ic, frame.segments_ if frame is not None else ()) + stage.flush()
    return {"live": live, "smoothed": stage.take_smoothed()}


def score(steps: list[StepSide], truth: Iterable[str], keep: np.ndarray | None = None) -> dict[str, int]:
    truth = list(truth)
    sides = [s.side for s in steps]
    if keep is not None:
        sides = [a for a, k in zip(sides, keep, strict=True) if k]
        truth = [b for b, k in zip(truth, keep, strict=True) if k]
    correct = sum(a == b for a, b in zip(sides, truth, strict=True))
    sure = sum(a != "?" for a in sides)
    return {"n": len(truth), "correct": correct, "unsure": len(truth) - sure, "sure": sure}


def summarise(counts: list[dict[str, int]]) -> dict[str, Any]:
    n = sum(c["n"] for c in counts)
    k = sum(c["correct"] for c in counts)
    sure = sum(c["sure"] for c in counts)
    return {
        "steps": n,
        "correct": k,
        "correct_pct": round(100 * k / n, 2) if n else None,
        "correct_ci95_pct": wilson_pct(k, n),
        "unsure_pct": round(100 * (n - sure) / n, 2) if n else None,
        "correct_of_sure_pct": round(100 * k / sure, 2) if sure else None,
        "correct_of_sure_ci95_pct": wilson_pct(k, sure),
    }


def forward_sign_ok(stage: BodyFrameStage, reference: Mounting, last_index: int) -> bool:
    seg = [s for s in stage.segments_ if s.start_index <= last_index][-1]
    return bool(seg.rotation[0] @ reference.rotation[0] > 0)


def voisard_features(trials: list[tuple[str, Recording]]) -> tuple[np.ndarray, np.ndarray]:
    """Per-step stride-phase cues (roll, yaw, ml acc; cos and sin each) with the automatic frame and the
    true contacts (for --tune); the step time as :class:`SideStage` finds it from the previous contacts."""
    from imu.gait.sides import step_cues

    settings = SideSettings()
    rows, ys = [], []
    for _, rec in trials:
        body, _ = body_of(rec, None)
        ic, side = truth_steps(rec)
        t_ic = body.t_s[ic - body.start_index]
        step_s = np.empty(t_ic.shape)
        for k in range(t_ic.shape[0]):
            prev = np.diff(t_ic[max(0, k - settings.median_of_steps) : k + 1])
            prev = prev[(prev >= settings.min_step_s) & (prev <= settings.max_step_s)]
            step_s[k] = float(np.median(prev)) if prev.size else settings.default_step_s
        rows.append(step_cues(body.t_s, body.acc, body.gyr, rec.rate_hz, t_ic, step_s, settings))
        ys.append(np.where(side == "R", 1.0, 0.0))
    return np.concatenate(rows), np.concatenate(ys)


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0) -> np.ndarray:
    def loss(w: np.ndarray) -> float:
        z = x @ w
        return float(np.sum(np.logaddexp(0, z) - y * z) + l2 * w @ w)

    return np.asarray(minimize(loss, np.zeros(x.shape[1])).x)


def reliability(posts: list[float], ok: list[bool]) -> dict[str, Any]:
    """Steps and share right per confidence bin of the posterior (calibration check)."""
    conf = np.maximum(np.array(posts), 1 - np.array(posts))
    right = np.array(ok, dtype=bool)
    out: dict[str, Any] = {}
    for lo, hi in ((0.5, 0.7), (0.7, 0.9), (0.9, 0.99), (0.99, 1.01)):
        m = (conf >= lo) & (conf < hi)
        out[f"[{lo}, {min(hi, 1.0)}{')' if hi < 1 else ']'}"] = {
            "steps": int(m.sum()),
            "right_pct": round(100 * float(right[m].mean()), 1) if m.any() else None,
        }
    return out


def run_voisard(root: Path) -> dict[str, Any]:
    trials = voisard_trials(root)
    split = {
        "tune": [t for t in trials if int(t[0].split("-")[0]) <= 5 and t[0] not in SUSPECT_TRIALS],
        "test": [t for t in trials if int(t[0].split("-")[0]) >= 6],
        "suspect_4-1_4-2_as_labelled": [t for t in trials if t[0] in SUSPECT_TRIALS],
    }
    out: dict[str, Any] = {}
    for name, members in split.items():
        res: dict[str, Any] = {"trials": len(members)}
        per_trial: dict[str, Any] = {}
        for cond in ("auto", "mounting", "auto_acc_only"):
            counts: dict[str, list[dict[str, int]]] = {k: [] for k in SIDE_KINDS}
            counts_in: dict[str, list[dict[str, int]]] = {k: [] for k in SIDE_KINDS}
            misses: dict[str, dict[str, int]] = {k: {} for k in SIDE_KINDS}
            per_subject: dict[str, dict[str, list[dict[str, int]]]] = {k: {} for k in SIDE_KINDS}
            posts: dict[str, list[float]] = {k: [] for k in SIDE_KINDS}
            ok_post: dict[str, list[bool]] = {k: [] for k in SIDE_KINDS}
            sign_ok = 0
            for trial, rec in members:
                ref = mounting_frame(rec)
                body, stage = body_of(rec, ref if cond == "mounting" else None, gyro=cond != "auto_acc_only")
                ic, side = truth_steps(rec)
                inside = in_trial(rec, ic)
                both = sides_of(body, ic, rec.rate_hz, frame=stage)
                for kind, found in both.items():
                    c = score(found, side)
                    counts[kind].append(c)
                    counts_in[kind].append(score(found, side, inside))
                    per_subject[kind].setdefault(trial.split("-")[0], []).append(c)
                    for j, (st, truth) in enumerate(zip(found, side, strict=True)):
                        posts[kind].append(st.p_right)
                        ok_post[kind].append((st.p_right >= 0.5) == (truth == "R"))
                        if st.side != truth:
                            key = f"{miss_place(j, len(found), st.t_s, rec, bool(inside[j]))}_" + (
                                "unsure" if st.side == "?" else "wrong"
                            )
                            misses[kind][key] = misses[kind].get(key, 0) + 1
                ok = forward_sign_ok(stage, ref, int(ic[-1]))
                sign_ok += ok
                per_trial.setdefault(trial, {})[cond] = {
                    **{kind: score(found, side) for kind, found in both.items()},
                    "forward_sign_ok": ok,
                    "frame_confidence": round(stage.confidence_, 3),
                }
            res[cond] = {"forward_sign_correct_trials": f"{sign_ok}/{len(members)}"}
            for kind in SIDE_KINDS:
                res[cond][kind] = {
                    "all": summarise(counts[kind]),
                    "in_trial": summarise(counts_in[kind]),
                    "misses": dict(sorted(misses[kind].items())),
                    "per_subject_correct_pct": {
                        k: summarise(v)["correct_pct"]
                        for k, v in sorted(per_subject[kind].items(), key=lambda kv: int(kv[0]))
                    },
                }
                if name == "tune" and cond != "mounting":
                    res[cond][kind]["reliability"] = reliability(posts[kind], ok_post[kind])
        res["per_trial"] = per_trial
        out[name] = res
    return out


# ---------------------------------------------------------------------------------------------- sisfall
def run_sisfall(archive: Path) -> dict[str, Any]:
    from imu.io.load import load_recordings

    found: dict[str, dict[str, Any]] = {}
    with tarfile.open(archive) as tar:
        names = sorted(m.name for m in tar.getmembers() if m.name.endswith("_R01.txt") and "/D0" in m.name)
    for name in names:
        rec = load_recordings(f"{archive}#{name}")[0]
        _, stage = body_of(rec, None)
        segs = [s for s in stage.segments_ if s.start_index >= 20 * rec.rate_hz]
        final = stage.segments_[-1].rotation
        spread = max(
            (np.degrees(np.arccos(np.clip(s.rotation[0] @ final[0], -1, 1))) for s in segs), default=0.0
        )
        base = name.rsplit("/", 1)[-1]
        found[base] = {
            "activity": base[:3],
            "subject": base[4:8],
            "up_vs_minus_y_deg": float(np.degrees(np.arccos(np.clip(-final[1][1], -1, 1)))),
            "forward_spread_after_20s_deg": float(spread),
            "forward_horizontal_deg": float(np.degrees(np.arcsin(abs(final[0] @ final[1])))),
            "confidence": round(stage.confidence_, 3),
            "forward": final[0].tolist(),
        }
    groups: dict[str, Any] = {}
    for group in ("SA", "SE"):
        rows = {k: v for k, v in found.items() if v["subject"].startswith(group)}
        agree, total = 0, 0
        for v in rows.values():
            if v["activity"] in ("D03", "D04"):
                walk = rows.get(f"D01_{v['subject']}_R01.txt")
                if walk:
                    total += 1
                    agree += float(np.dot(v["forward"], walk["forward"])) > 0
        for act in ("D01", "D02", "D03", "D04"):
            sel = [v for v in rows.values() if v["activity"] == act]
            if sel:
                groups[f"{group}_{act}"] = {
                    "trials": len(sel),
                    "up_vs_minus_y_deg_max": round(max(v["up_vs_minus_y_deg"] for v in sel), 1),
                    "forward_spread_after_20s_deg_median": round(
                        float(np.median([v["forward_spread_after_20s_deg"] for v in sel])), 1
                    ),
                    "forward_spread_after_20s_deg_max": round(
                        max(v["forward_spread_after_20s_deg"] for v in sel), 1
                    ),
                    "confidence_median": round(float(np.median([v["confidence"] for v in sel])), 3),
                    "confidence_min": round(min(v["confidence"] for v in sel), 3),
                }
        groups[f"{group}_jog_forward_agrees_with_walk"] = f"{agree}/{total}"
    return groups


# ---------------------------------------------------------------------------------------------- simulator
def run_sim() -> dict[str, Any]:
    from imu.gait.running import RunningContacts
    from imu.sim.runner import RunnerSettings, simulate_run

    frame_err, conf, steps_total, detected_total = [], [], 0, 0
    counts: dict[str, list[dict[str, int]]] = {}
    matched = 0
    for seed in SIM_SEEDS:
        run = simulate_run(RunnerSettings(minutes=SIM_MINUTES, seed=seed))
        body, stage = body_of(Recording.from_samples(run.samples, f"sim{seed}", rate_hz=run.rate_hz), None)
        frame = stage.segments_[-1].rotation
        true_fwd = run.mounting[0] - frame[1] * (run.mounting[0] @ frame[1])  # the pelvis ap axis, levelled
        true_fwd /= np.linalg.norm(true_fwd)
        frame_err.append(float(np.degrees(np.arccos(np.clip(frame[0] @ true_fwd, -1, 1)))))
        conf.append(stage.confidence_)
        steps = run.steps
        ic = steps["ic_index"].to_numpy()
        ic = ic[ic < len(body)]
        steps_total += len(ic)
        truth = steps["side"].to_numpy()[: len(ic)]
        det = run_batch(RunningContacts(run.rate_hz), body, _join_tables)
        det_ic = np.asarray(det.ic_index, dtype=np.int64)
        detected_total += len(det_ic)
        t_true = steps["t_ic_s"].to_numpy()
        for gyro in (True, False):
            b = body if gyro else BodyBlock(body.t_s, body.acc, None, body.start_index)
            tag = "" if gyro else "_acc_only"
            for kind, found in sides_of(b, ic, run.rate_hz, frame=stage).items():
                counts.setdefault(f"{kind}_true_contacts{tag}", []).append(score(found, truth))
            for kind, found in sides_of(b, det_ic, run.rate_hz, frame=stage).items():
                pairs = []
                for st in found:
                    j = int(np.argmin(np.abs(t_true - st.t_s)))
                    if abs(t_true[j] - st.t_s) <= MATCH_TOLERANCE_S:
                        pairs.append((st, steps["side"].iloc[j]))
                if gyro and kind == "live":
                    matched += len(pairs)
                counts.setdefault(f"{kind}_detected_contacts{tag}", []).append(
                    score([p[0] for p in pairs], [p[1] for p in pairs])
                )
    return {
        "runs": len(SIM_SEEDS),
        "seeds": list(SIM_SEEDS),
        "minutes_each": SIM_MINUTES,
        "mounting": "random",
        "true_steps": steps_total,
        "detected_contacts": detected_total,
        "matched_within_50ms": matched,
        "heading_error_deg": [round(e, 1) for e in frame_err],
        "confidence": [round(c, 3) for c in conf],
        **{f"sides_{k}": summarise(v) for k, v in counts.items()},
    }


def _join_tables(parts: list[Any]) -> Any:
    from imu.gait.contact_table import ContactTable

    return ContactTable.concat(parts)


# ---------------------------------------------------------------------------------------------- main
def markdown(res: dict[str, Any]) -> str:
    lines = [
        "# Sides and body frame: accuracy",
        "",
        "Generated by `python -m benchmarks.accuracy.sides [--sisfall]` (method: `imu/gait/sides.py`).",
        "",
    ]
    v = res.get("voisard2023")
    if v:
        lines += [
            "## voisard2023 (walking, L5; tuning subjects 1–5, test 6–9)",
            "",
            "Steps: `all` labelled contacts, or those `in_trial` (inside TrialBoundaries). "
            "Unsure counts as not correct.",
            "",
            "`live`: final within 0.5 s of the contact (the live dashboard's `side`); `smoothed`: final "
            "after up to 6.5 s (`side_smoothed`, what the research tables use).",
            "",
            "| split | condition | side | steps | correct % (95 % CI) | unsure % "
            "| correct of sure % (95 % CI) | fwd sign |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for split, r in v.items():
            for cond in ("auto", "mounting", "auto_acc_only"):
                for subset in ("all", "in_trial"):
                    for kind in SIDE_KINDS:
                        c = r[cond][kind][subset]
                        lines.append(
                            f"| {split} | {cond} ({subset}) | {kind} | {c['steps']} | {c['correct_pct']} "
                            f"{c['correct_ci95_pct']} | {c['unsure_pct']} | {c['correct_of_sure_pct']} "
                            f"{c['correct_of_sure_ci95_pct']} | {r[cond]['forward_sign_correct_trials']} |"
                        )
        lines += ["", "Where the steps that are not correct lie (all labelled steps):", ""]
        for split, r in v.items():
            for cond in ("auto", "auto_acc_only"):
                for kind in SIDE_KINDS:
                    lines.append(
                        f"- {split}, {cond}, {kind}: {r[cond][kind]['misses']}; per subject correct % "
                        f"{r[cond][kind]['per_subject_correct_pct']}"
                    )
        lines += [
            "",
            "Reliability of the posterior on the tuning split (confidence bin: steps, % right):",
            "",
        ]
        for cond in ("auto", "auto_acc_only"):
            for kind in SIDE_KINDS:
                lines.append(f"- {cond}, {kind}: {v['tune'][cond][kind]['reliability']}")
        lines.append("")
    s = res.get("sisfall")
    if s:
        lines += ["## SisFall (waist, no event truth)", "", "```", json.dumps(s, indent=1), "```", ""]
    m = res.get("simulated")
    if m:
        lines += [
            "## Simulated runner (random mountings; the cue signs are the simulator's model assumption)",
            "",
            "```",
            json.dumps(m, indent=1),
            "```",
            "",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tune", action="store_true", help="refit the side evidence weights on subjects 1–5")
    parser.add_argument("--sisfall", action="store_true", help="also rerun the SisFall frame checks (~2 min)")
    args = parser.parse_args(argv)
    data = shared_data()
    if args.tune:
        tune = [
            t
            for t in voisard_trials(data / VOISARD)
            if int(t[0].split("-")[0]) <= 5 and t[0] not in SUSPECT_TRIALS
        ]
        x, y = voisard_features(tune)
        print("weights_gyr (roll, yaw, ml; cos, sin each):", np.round(fit_logistic(x, y), 2))
        print("weights_acc_only (ml; cos, sin):", np.round(fit_logistic(x[:, 4:], y), 2))
        return
    res: dict[str, Any] = {}
    if (data / VOISARD).is_dir():
        res["voisard2023"] = run_voisard(data / VOISARD)
    previous = RESULTS / "accuracy_sides.json"
    if args.sisfall and (data / SISFALL).is_file():
        res["sisfall"] = run_sisfall(data / SISFALL)
    elif previous.is_file():
        kept = json.loads(previous.read_text()).get("sisfall")
        if kept:
            res["sisfall"] = kept
    res["simulated"] = run_sim()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "accuracy_sides.json").write_text(json.dumps(res, indent=1))
    (RESULTS / "accuracy_sides.md").write_text(markdown(res))
    print(markdown(res))


if __name__ == "__main__":
    main()
