"""Speed and memory of the whole gait pipeline, and of ``imu analyze`` as a process.

Run: ``.venv/bin/python -m benchmarks.pipeline_speed [--minutes 60]``. Writes
``benchmarks/results/pipeline_speed.json`` and ``.md``.

Data: a simulated six-axis run (``imu.sim``, 208 Hz, random mounting, seed 2025) of ``--minutes`` minutes.
Figures:

- ``pipeline_s``: :class:`imu.gait.pipeline.GaitPipeline` over the recording as one block (update + flush),
  wall time, best of ``--repeat``, on ONE core: the BLAS thread pool limited to one thread (the low-pass
  filters are matrix products, which a multi-threaded BLAS would spread over several cores); with each
  stage's seconds per hour of data and share (``GaitPipeline.stage_seconds_``) so the next person knows
  where to optimise. Target: an hour in ≤ 0.36 s (10 000 × real time) on one core.
- ``pieces``: the same for other ``PipelineSettings.piece_s`` (the pieces a long block is cut into), with
  the peak Python memory of the pipeline alone: why the default is what it is.
- ``pipeline_all_threads``: the pipeline timed again with the BLAS's default thread pool, for comparison.
- ``analyze_recording_s``: the pipeline plus the research tables (:func:`imu.analyze.analyze_recording`).
- ``process``: ``imu analyze FILE.parquet --out DIR`` as a subprocess against a subprocess that only reads
  the same file with :func:`imu.io.load.load_recordings` (both include interpreter start and imports),
  interleaved at least five times, the fastest of each (one run of each swung the ratio from 1.6 to 2.8).
  Target: ≤ 2 ×.
- ``peak_memory_mb``: the peak of Python allocations (tracemalloc) during ``analyze_recording`` of the
  recording as one block, beyond the input already in memory.
- mobgap (optional, ``pip install -e .[bench]``): ``IcdIonescu`` (initial contacts) and ``LrcMcCamley``
  (left/right) over the same samples in the true body frame, timed the same way, for scale. They are
  walking algorithms; their step counts on running are listed, not judged.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
from threadpoolctl import threadpool_limits

from imu.analyze import analyze_recording
from imu.gait.pipeline import GaitPipeline, PipelineOutput, PipelineSettings
from imu.samples import Recording
from imu.sim.runner import RunnerSettings, SimulatedRun, simulate_run

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
TARGET_REALTIME = 10_000.0
TARGET_PROCESS_RATIO = 2.0
PIECES_S = (5.0, 10.0, 30.0, 60.0, 120.0)


def best_of(repeat: int, call: Any) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = call()
        best = min(best, time.perf_counter() - t0)
    return best, out


def time_pipeline(run: SimulatedRun, repeat: int, piece_s: float | None = None) -> dict[str, Any]:
    settings = PipelineSettings() if piece_s is None else PipelineSettings(piece_s=piece_s)

    def once() -> GaitPipeline:
        pipeline = GaitPipeline(run.rate_hz, True, settings)
        PipelineOutput.concat([pipeline.update(run.samples), pipeline.flush()])
        return pipeline

    seconds, pipeline = best_of(repeat, once)
    stages = sorted(pipeline.stage_seconds_.items(), key=lambda kv: -kv[1])
    total = sum(v for _, v in stages)
    hours = len(run.samples) / run.rate_hz / 3600
    return {
        "piece_s": settings.piece_s,
        "pipeline_s": seconds,
        "realtime_factor": len(run.samples) / run.rate_hz / seconds,
        "stage_s": {k: round(v, 4) for k, v in stages},
        "stage_s_per_hour": {k: round(v / hours, 4) for k, v in stages},
        "stage_share_pct": {k: round(100 * v / total, 1) for k, v in stages},
    }


def pipeline_memory(run: SimulatedRun, piece_s: float) -> float:
    """Peak Python memory (MB) of the pipeline over the recording as one block, beyond the input."""
    pipeline = GaitPipeline(run.rate_hz, True, PipelineSettings(piece_s=piece_s))
    tracemalloc.start()
    PipelineOutput.concat([pipeline.update(run.samples), pipeline.flush()])
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 1e6


def time_pieces(run: SimulatedRun, repeat: int, memory: bool) -> list[dict[str, Any]]:
    out = []
    for piece_s in PIECES_S:
        row = time_pipeline(run, repeat, piece_s)
        if memory:
            row["peak_memory_mb"] = pipeline_memory(run, piece_s)
        out.append(row)
    return out


def time_process(run: SimulatedRun, folder: Path, repeat: int) -> dict[str, Any]:
    path = folder / "run.parquet"
    run.samples.to_frame().to_parquet(path, index=False)
    python = sys.executable
    read = [python, "-c", f"from imu.io.load import load_recordings; load_recordings({str(path)!r})"]
    analyze = [python, "-m", "imu.cli", "analyze", str(path), "--out", str(folder / "out")]
    runs: dict[str, list[float]] = {"read_s": [], "analyze_s": []}
    for _ in range(repeat):  # interleaved, so a busy moment of the machine hits both
        for name, command in (("read_s", read), ("analyze_s", analyze)):
            t0 = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            runs[name].append(time.perf_counter() - t0)
    timings: dict[str, Any] = {name: min(values) for name, values in runs.items()}
    timings["runs"] = repeat
    timings["ratio"] = timings["analyze_s"] / timings["read_s"]
    timings["file_mb"] = path.stat().st_size / 1e6
    return timings


def peak_memory(run: SimulatedRun) -> float:
    recording = Recording.from_samples(run.samples, "sim", rate_hz=run.rate_hz)
    tracemalloc.start()
    analyze_recording(recording)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 1e6


def time_mobgap(run: SimulatedRun, repeat: int) -> dict[str, Any]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from mobgap.initial_contacts import IcdIonescu
            from mobgap.laterality import LrcMcCamley
    except ImportError as exc:
        return {"available": False, "why": f"mobgap not installed ({exc}); pip install -e .[bench]"}
    # the true body frame (ap, v, ml) → mobgap's body frame: is = up, pa = forward, ml (sign irrelevant here)
    acc_body = run.samples.acc @ run.mounting.T
    assert run.samples.gyr is not None
    gyr_body = run.samples.gyr @ run.mounting.T
    data = pd.DataFrame(
        {
            "acc_is": acc_body[:, 1],
            "acc_ml": acc_body[:, 2],
            "acc_pa": acc_body[:, 0],
            "gyr_is": gyr_body[:, 1],
            "gyr_ml": gyr_body[:, 2],
            "gyr_pa": gyr_body[:, 0],
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        icd_s, icd = best_of(repeat, lambda: IcdIonescu().detect(data, sampling_rate_hz=run.rate_hz))
        ics = icd.ic_list_
        lrc_s, _ = best_of(repeat, lambda: LrcMcCamley().predict(data, ics, sampling_rate_hz=run.rate_hz))
    return {
        "available": True,
        "icd_ionescu_s": icd_s,
        "lrc_mccamley_s": lrc_s,
        "total_s": icd_s + lrc_s,
        "n_ics": len(ics),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--no-memory", action="store_true", help="skip the (slow) tracemalloc run")
    args = parser.parse_args()

    run = simulate_run(RunnerSettings(minutes=args.minutes, seed=2025, standing_s=5.0))
    hours = len(run.samples) / run.rate_hz / 3600
    result: dict[str, Any] = {
        "data": {
            "minutes": args.minutes,
            "rate_hz": run.rate_hz,
            "samples": len(run.samples),
            "true_steps": len(run.steps),
            "six_axis": True,
        },
        "machine": {
            "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(),
        },
    }
    with threadpool_limits(1):  # one core, as the target is stated
        result["pipeline"] = time_pipeline(run, args.repeat)
        result["pieces"] = time_pieces(run, args.repeat, not args.no_memory)
    result["pipeline_all_threads"] = time_pipeline(run, args.repeat)
    result["pipeline"]["per_hour_s"] = result["pipeline"]["pipeline_s"] / hours
    result["pipeline"]["target_per_hour_s"] = 3600 / TARGET_REALTIME
    t, analysis = best_of(1, lambda: analyze_recording(Recording.from_samples(run.samples, "sim")))
    result["analyze_recording_s"] = t
    result["steps_found"] = len(analysis.steps)
    with tempfile.TemporaryDirectory() as tmp:
        result["process"] = time_process(run, Path(tmp), max(5, args.repeat))
    result["process"]["target_ratio"] = TARGET_PROCESS_RATIO
    if not args.no_memory:
        result["peak_memory_mb"] = peak_memory(run)
        result["input_mb"] = (run.samples.acc.nbytes * 2 + run.samples.t_s.nbytes) / 1e6
    result["mobgap"] = time_mobgap(run, args.repeat)
    write(result)


def write(result: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "pipeline_speed.json").write_text(json.dumps(result, indent=1) + "\n")
    p, pr = result["pipeline"], result["process"]
    lines = [
        "# Gait pipeline: speed and memory",
        "",
        "Written by `python -m benchmarks.pipeline_speed`. Simulated six-axis run, "
        f"{result['data']['minutes']:g} min at {result['data']['rate_hz']:g} Hz "
        f"({result['data']['samples']} samples), {result['machine']['processor']}, Python "
        f"{result['machine']['python']}.",
        "",
        "| figure | value | target |",
        "|---|---|---|",
        f"| pipeline, one block, one core (s) | {p['pipeline_s']:.3f} | |",
        f"| pipeline per hour of data, one core (s) | {p['per_hour_s']:.3f} | "
        f"≤ {p['target_per_hour_s']:.2f} |",
        f"| real-time factor | {p['realtime_factor']:.0f} × | ≥ {TARGET_REALTIME:.0f} × |",
        f"| analyze_recording (pipeline + tables) (s) | {result['analyze_recording_s']:.3f} | |",
        f"| `imu analyze` process, fastest of {pr['runs']} (s) | {pr['analyze_s']:.2f} | |",
        f"| reading the same Parquet file, process, fastest of {pr['runs']} (s) | {pr['read_s']:.2f} | |",
        f"| analyze / read | {pr['ratio']:.1f} × | ≤ {TARGET_PROCESS_RATIO:.0f} × |",
    ]
    if "peak_memory_mb" in result:
        lines.append(
            f"| peak Python memory, batch (MB; input {result['input_mb']:.0f} MB) | "
            f"{result['peak_memory_mb']:.0f} | |"
        )
    m = result["mobgap"]
    if m.get("available"):
        lines += [
            f"| mobgap IcdIonescu (s) | {m['icd_ionescu_s']:.3f} | |",
            f"| mobgap LrcMcCamley (s) | {m['lrc_mccamley_s']:.3f} | |",
        ]
    else:
        lines.append(f"| mobgap | {m['why']} | |")
    lines += [
        "",
        f"Stages of the pipeline on one core (pieces of {p['piece_s']:g} s), seconds per hour of data:",
        "",
        "| stage | s | s per hour | % |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {k} | {v:.3f} | {p['stage_s_per_hour'][k]:.3f} | {p['stage_share_pct'][k]} |"
        for k, v in p["stage_s"].items()
    ]
    every = result["pipeline_all_threads"]
    lines += [
        "",
        f"With the BLAS's default thread pool: {every['pipeline_s'] / hours_of(result):.3f} s per hour "
        f"({every['realtime_factor']:.0f} × real time); per stage (s per hour): "
        + ", ".join(f"{k} {v:.3f}" for k, v in every["stage_s_per_hour"].items()),
    ]
    stages = list(p["stage_s"])
    lines += [
        "",
        "The piece size (`PipelineSettings.piece_s`), one core: s per hour of data, overall and per stage,",
        "and the pipeline's peak Python memory over the recording as one block (beyond the input):",
        "",
        "| piece (s) | total | " + " | ".join(stages) + " | peak MB |",
        "|---" * (len(stages) + 3) + "|",
    ]
    for row in result["pieces"]:
        hour = row["pipeline_s"] / hours_of(result)
        cells = " | ".join(f"{row['stage_s_per_hour'].get(k, 0.0):.3f}" for k in stages)
        mb = f"{row['peak_memory_mb']:.1f}" if "peak_memory_mb" in row else "–"
        lines.append(f"| {row['piece_s']:g} | {hour:.3f} | {cells} | {mb} |")
    (RESULTS / "pipeline_speed.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def hours_of(result: dict[str, Any]) -> float:
    return float(result["data"]["samples"]) / float(result["data"]["rate_hz"]) / 3600


if __name__ == "__main__":
    main()
