"""`imu info`: the description block, and the command's behaviour on good and bad files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from imu import cli
from imu.io.importers.generic_csv import write_generic_csv
from imu.io.info import describe
from imu.samples import Recording, SampleBlock

REPO = Path(__file__).resolve().parents[2]
RunCli = Callable[..., tuple[int, str, str]]


def _with_gaps() -> Recording:
    t = np.arange(1000) / 100.0
    keep = np.ones(1000, bool)
    keep[200:230] = False  # 30 samples lost: 0.31 s interval
    keep[600:605] = False  # 5 samples lost
    acc = np.tile([0.0, 0.0, 9.81], (1000, 1))
    acc[:, 0] = np.linspace(-2, 3, 1000)
    truth = {"contacts": pd.DataFrame({"t_ic_s": [1.0, 2.0], "t_to_s": [1.2, 2.2]})}
    block = SampleBlock(t[keep], acc[keep])
    return Recording.from_samples(block, "mem.csv", meta={"format": "csv", "device": "test rig"}, truth=truth)


def _field(text: str, label: str) -> str:
    line = next(row for row in text.splitlines() if row.startswith(label + " "))
    return line[len(label) :].strip()


def test_describe_reports_gaps_channels_ranges_and_truth() -> None:
    text = describe(_with_gaps())
    assert _field(text, "samples") == "965"
    assert _field(text, "gaps") == "2, 0.350 s missing in total; longest 0.310 s at t = 1.990 s"
    assert _field(text, "channels") == "acc x y z; no gyroscope (acc-only)"
    assert _field(text, "acc_x").split()[:3] == ["-2.000", "…", "3.000"]
    assert _field(text, "truth") == "contacts (2 rows: t_ic_s, t_to_s)"
    assert _field(text, "device") == "test rig"
    assert _field(text, "rate").startswith("100.00 Hz nominal")
    # aligned: a one-word label padded to the same width on every line
    assert all(row[10] == " " and " " not in row[:10].strip() for row in text.splitlines())


def test_describe_biaxial_recording(shared_data: Path) -> None:
    from imu.io.load import load_recording

    rec = load_recording(shared_data / "alcantara2022_sacral_running_grf/data/Accelerometer_one_sub.csv#1")
    text = describe(rec)
    assert _field(text, "channels") == "acc x y (acc_z absent, zeros); no gyroscope (acc-only)"
    assert _field(text, "truth").startswith("contacts (15 rows: t_ic_s, t_to_s")
    assert "speed_mps 2.5, slope_deg 10" in _field(text, "trial")


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> RunCli:
    """Run ``imu.cli.main`` in-process and capture what it prints."""

    def run(*argv: str) -> tuple[int, str, str]:
        code = cli.main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_cli_info_prints_each_recording(tmp_path: Path, run_cli: RunCli) -> None:
    path = write_generic_csv(_with_gaps(), tmp_path / "a.csv")
    code, out, err = run_cli("info", str(path))
    assert code == 0 and err == ""
    assert _field(out, "source") == str(path) and _field(out, "samples") == "965"


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "empty"),
        (b"t_s,acc_x,acc_y,acc_z\n0,1,2,3\n0.01,1,x,3\n", "line 3, column 3"),
        ("t_s,acc_x,acc_y,acc_z\n0,0,0,1\n".encode("utf-16"), "UTF-16"),
        (bytes(range(256)) * 8, "binary data"),
    ],
)
def test_cli_info_bad_file_exits_2_with_one_line(
    tmp_path: Path, run_cli: RunCli, content: bytes, fragment: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    code, out, err = run_cli("info", str(path))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"imu info: {path}") and fragment in err


def test_cli_info_on_the_bundled_recording(run_cli: RunCli) -> None:
    path = REPO / "recordings/alcantara2022_sacral_running/Accelerometer_one_sub.csv"
    code, out, _ = run_cli("info", f"{path}#1")
    assert code == 0 and "alcantara2022" in out and "Apache-2.0" in out


def test_cli_info_separates_the_trials_of_a_multi_trial_file(run_cli: RunCli) -> None:
    code, out, _ = run_cli(
        "info", str(REPO / "recordings/alcantara2022_sacral_running/Accelerometer_one_sub.csv")
    )
    blocks = out.rstrip("\n").split("\n\n")
    assert code == 0 and len(blocks) == 31
    assert all(block.startswith("source ") for block in blocks)
