"""THE crash test: a real-time recording killed with SIGKILL loses nothing it acknowledged."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from imu.devices.reference import ReferenceDecoder
from imu.io.session import open_session, recover_session
from tests.io.crash_writer import PER_PACKET, make_packets

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_during_recording_loses_no_acknowledged_packet(tmp_path: Path) -> None:
    folder = tmp_path / "session"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.io.crash_writer", str(folder)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    acked: list[int] = []
    first_ack = threading.Event()

    def read_acks() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            acked.append(int(line))
            first_ack.set()

    reader = threading.Thread(target=read_acks, daemon=True)
    reader.start()
    try:
        assert first_ack.wait(30), f"writer never started: {proc.stderr.read() if proc.stderr else ''}"
        time.sleep(2.0)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(10)
    reader.join(10)
    assert proc.returncode == -signal.SIGKILL
    n_acked = acked[-1]  # everything the writer printed before it died, read to the end of the pipe
    assert n_acked >= 40  # ≈ 2 s at 26 packets/s: the writer really was recording in real time

    report = recover_session(folder)
    assert report.previous_status == "recording"
    assert n_acked <= report.records <= n_acked + 1  # killed at most between an append and its print
    assert report.torn_tail_bytes == 0 and report.corrupt_regions == 0 and report.decode_errors == 0
    assert report.gaps == 0 and report.lost_packets == 0

    decoder = ReferenceDecoder()
    expected = [f for p in make_packets()[:n_acked] for f in decoder.decode(p)]
    recording = open_session(folder)
    samples = recording.samples
    n = n_acked * PER_PACKET
    assert len(samples) == report.samples >= n
    # bit-exact: the very float64 values the decoder makes from the acknowledged bytes
    np.testing.assert_array_equal(samples.acc[:n], np.concatenate([f.acc for f in expected]))
    assert samples.gyr is not None
    np.testing.assert_array_equal(samples.gyr[:n], np.concatenate([f.gyr for f in expected]))
    assert np.all(np.diff(samples.t_s) > 0)

    meta = recording.meta
    assert meta["status"] == "recovered"
    assert meta["device"]["protocol"] == "reference"
    assert meta["settings"]["rate_hz"] == 208
    assert meta["closed_utc"] is None
    started = datetime.fromisoformat(meta["started_utc"])
    assert started.utcoffset() is not None and started <= datetime.fromisoformat(meta["recovered_utc"])
    assert meta["samples"]["count"] == len(samples)
    assert "rebuilt_from_raw_log" not in meta  # read from the samples.parquet recover wrote
