"""``imu replay`` / ``imu live``: one-line errors on bad input, and a clean stop on Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from imu.cli import main

from .conftest import FATIGUE_RUN, REPO


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str], text: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and text in err, err


def test_missing_recording(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    _one_line_error(capsys, ["replay", str(tmp_path / "nope"), "--port", str(free_port())], "nope")


def test_port_in_use(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        _one_line_error(capsys, ["replay", str(FATIGUE_RUN), "--port", str(port)], "port already in use")


def test_bad_speed(capsys: pytest.CaptureFixture[str]) -> None:
    _one_line_error(capsys, ["replay", str(FATIGUE_RUN), "--speed", "0"], "--speed")


def test_record_folder_not_empty(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "x").write_text("")
    argv = ["live", "--virtual", "reference", "--record", str(tmp_path), "--port", str(free_port())]
    _one_line_error(capsys, argv, "non-empty")


def test_no_bluetooth_for_device(capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    from imu.link.scan import BluetoothUnavailable, scan

    try:
        asyncio.run(scan(0.5))
    except BluetoothUnavailable:
        pass
    else:
        pytest.skip("this machine has Bluetooth")
    _one_line_error(
        capsys, ["live", "--device", "AA:BB:CC:DD:EE:FF", "--port", str(free_port())], "Bluetooth"
    )


def test_live_virtual_serves_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    session = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "imu.cli",
        "live",
        "--virtual",
        "reference",
        "--speed",
        "20",
        "--seconds",
        "60",
    ]
    proc = subprocess.Popen(
        [*cmd, "--record", str(session), "--port", str(port)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline, page = time.monotonic() + 30, ""
        while time.monotonic() < deadline and not page:
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read().decode()
            except OSError:
                time.sleep(0.3)
        assert "imu live" in page
        time.sleep(4.0)  # 60 s of simulated running at 20x
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert f"http://127.0.0.1:{port}/" in out
    assert "running steps" in err and "recorded" in err
    assert (session / "samples.parquet").exists()
