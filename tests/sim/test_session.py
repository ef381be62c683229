"""A simulated run written as a reference-protocol session: round trip, loss, determinism, command line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imu.cli import main
from imu.io.session import SAMPLES_FILE, open_session
from imu.sim.gait_model import FatigueSettings
from imu.sim.runner import RunnerSettings, SimulatedRun, simulate_run
from imu.sim.session import LinkSettings, lost_packets, write_simulated_session


@pytest.fixture(scope="module")
def run() -> SimulatedRun:
    return simulate_run(RunnerSettings(minutes=1.0, seed=21, fatigue=FatigueSettings.typical()))


def test_round_trip_keeps_every_sample_and_the_truth(run: SimulatedRun, tmp_path: Path) -> None:
    recording, report = write_simulated_session(tmp_path / "s", run, LinkSettings(loss_pct=0.0))
    assert report["lost_packets"] == 0
    assert np.array_equal(recording.samples.acc, run.samples.acc)
    assert np.array_equal(recording.samples.gyr, run.samples.gyr)
    assert np.allclose(recording.samples.t_s, run.samples.t_s, atol=2e-6)  # session time = simulation time
    reopened = open_session(tmp_path / "s")
    assert reopened.truth["steps"].equals(run.steps)
    assert reopened.truth["strides"].equals(run.strides)
    assert np.array_equal(np.array(reopened.meta["mounting"]["matrix"]), run.mounting)
    assert reopened.meta["settings"]["simulation"]["settings"]["seed"] == 21
    assert reopened.meta["clock"]["drift_ppm"] == pytest.approx(20.0, abs=15.0)


def test_packet_loss_leaves_gaps_never_spread_samples(run: SimulatedRun, tmp_path: Path) -> None:
    recording, report = write_simulated_session(tmp_path / "s", run, LinkSettings(loss_pct=5.0))
    assert 0 < report["lost_packets"] < 0.15 * report["packets"]
    assert len(recording.samples) == len(run.samples) - report["lost_samples"]
    index = np.round(recording.samples.t_s * run.rate_hz).astype(int)
    assert np.array_equal(recording.samples.acc, run.samples.acc[index])  # every kept sample in its place
    missing = sum(g.missing_samples for g in recording.gaps())
    assert missing <= report["lost_samples"] and missing > 0


def test_loss_model_hits_the_configured_fraction_in_bursts() -> None:
    lost = lost_packets(200_000, LinkSettings(loss_pct=3.0, mean_burst_packets=3.0), np.random.default_rng(1))
    assert lost.mean() == pytest.approx(0.03, rel=0.1)
    starts = np.flatnonzero(np.diff(lost.astype(int)) == 1)
    assert lost.sum() / len(starts) == pytest.approx(3.0, rel=0.15)
    assert not lost[0]


def test_same_seed_gives_identical_raw_log(run: SimulatedRun, tmp_path: Path) -> None:
    link = LinkSettings(loss_pct=2.0)
    write_simulated_session(tmp_path / "a", run, link)
    write_simulated_session(tmp_path / "b", run, link, keep_samples_file=False)
    assert (tmp_path / "a" / "raw.log").read_bytes() == (tmp_path / "b" / "raw.log").read_bytes()
    assert not (tmp_path / "b" / SAMPLES_FILE).exists()
    rebuilt = open_session(tmp_path / "b")  # samples rebuilt from the raw log
    assert np.array_equal(rebuilt.samples.acc, open_session(tmp_path / "a").samples.acc)


def test_command_line_writes_a_session(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    code = main(
        [
            "simulate",
            "--minutes",
            "0.3",
            "--seed",
            "5",
            "--rate-hz",
            "104",
            "--mounting",
            "upright",
            "--fatigue",
            "--asymmetry-pct",
            "-6",
            "--loss-pct",
            "1",
            str(out),
        ]
    )
    assert code == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(str(out)) and "steps" in line and "asymmetry -6 %" in line and "\n" not in line
    recording = open_session(out)
    assert recording.rate_hz == 104
    sim = recording.meta["settings"]["simulation"]["settings"]
    assert sim["fatigue"]["asymmetry_pct"] == -6 and sim["fatigue"]["tilt_drift_deg"] == 3
    assert np.array_equal(np.array(recording.meta["mounting"]["matrix"]), np.eye(3))


@pytest.mark.parametrize(
    "args",
    [
        ["--mounting", "sideways"],
        ["--minutes", "0"],
        ["--rate-hz", "10"],
        ["--loss-pct", "80"],
        ["--speed-ms", "12"],
    ],
)
def test_command_line_refuses_bad_options(
    args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        code = main(["simulate", *args, str(tmp_path / "x")])
        raise SystemExit(code)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip()


def test_command_line_never_overwrites(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    assert main(["simulate", "--minutes", "0.2", str(out)]) == 0
    assert main(["simulate", "--minutes", "0.2", str(out)]) == 2
    assert "existing" in capsys.readouterr().err
