"""A simulated run written as a session, exactly as a reference board streaming over Bluetooth LE would.

The sensor's samples are cut into reference packets (:func:`imu.devices.reference.encode_packets`), some
packets are lost on the link, and each packet that arrives is stamped with a plausible host receive time:

- the board's clock runs ``clock_ppm`` fast against the host, so one device second lasts
  ``1 / (1 + ppm·10⁻⁶)`` host seconds (session time is the device clock, which is the simulation's time,
  so the truth tables need no conversion);
- a packet leaves at the first connection event after its last sample was taken plus a processing delay,
  and reaches the host after a latency with an exponential jitter; the host sees packets in order.

Loss comes in bursts (a two-state link: good runs and bad runs of ``mean_burst_packets`` on average) with a
long-run fraction of ``loss_pct``; the first packet always arrives, so session time starts at sample 0.
Everything is drawn from the run's seed: the same seed gives a bit-identical ``raw.log``.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from imu.devices.reference import encode_packets
from imu.errors import InputError
from imu.io.session import SAMPLES_FILE, SessionWriter
from imu.samples import Recording
from imu.sim.runner import SimulatedRun

DEFAULT_START_UTC = datetime(2024, 5, 4, 7, 30, tzinfo=UTC)
"""A fixed start time, so host receive times (and the raw log) do not depend on when a run was simulated."""

LINK_SEED_OFFSET = 0x5EED_0001
"""Mixed into the run's seed so the link draws are independent of the runner's."""


@dataclass(frozen=True)
class LinkSettings:
    """How the packets travel: packet size, loss, device clock error and delays (seconds)."""

    samples_per_packet: int = 16
    loss_pct: float = 0.0
    mean_burst_packets: float = 2.0
    clock_ppm: float = 20.0
    connection_interval_s: float = 0.015
    processing_s: float = 0.002
    latency_s: float = 0.004
    jitter_s: float = 0.006

    def __post_init__(self) -> None:
        if not 0.0 <= self.loss_pct < 50.0:
            raise InputError(
                "packet loss out of range", expected="0 ≤ loss < 50 %", found=f"{self.loss_pct} %"
            )
        if self.mean_burst_packets < 1.0:
            raise InputError(
                "mean loss burst too short", expected="≥ 1 packet", found=f"{self.mean_burst_packets}"
            )
        if not 1 <= self.samples_per_packet <= 255:
            raise InputError("samples per packet", expected="1..255", found=f"{self.samples_per_packet}")


def lost_packets(n_packets: int, link: LinkSettings, rng: np.random.Generator) -> NDArray[np.bool_]:
    """Which packets the link loses: alternating geometric good and bad runs (first packet always kept)."""
    lost = np.zeros(n_packets, dtype=bool)
    p = link.loss_pct / 100.0
    if p <= 0 or n_packets < 2:
        return lost
    mean_bad = link.mean_burst_packets
    mean_good = mean_bad * (1.0 - p) / p
    n_runs = int(2 * n_packets / (mean_good + mean_bad)) + 16
    good = rng.geometric(1.0 / mean_good, n_runs) if mean_good > 1 else np.ones(n_runs, dtype=np.int64)
    bad = rng.geometric(1.0 / mean_bad, n_runs)
    while int(good.sum() + bad.sum()) < n_packets:  # rarely needed: draw more runs
        good = np.concatenate((good, rng.geometric(1.0 / max(mean_good, 1.0), n_runs)))
        bad = np.concatenate((bad, rng.geometric(1.0 / mean_bad, n_runs)))
    bounds = np.cumsum(np.column_stack((good, bad)).ravel())
    starts, stops = bounds[0::2], bounds[1::2]
    flags = np.zeros(n_packets + 1, dtype=np.int64)
    np.add.at(flags, np.minimum(starts, n_packets), 1)
    np.add.at(flags, np.minimum(stops, n_packets), -1)
    lost = np.cumsum(flags[:n_packets]) > 0
    lost[0] = False
    return lost


def host_receive_ns(
    t_last_s: NDArray[np.float64], link: LinkSettings, host0_ns: int, rng: np.random.Generator
) -> NDArray[np.int64]:
    """Host receive times (Unix ns) of packets whose last sample was taken at device time ``t_last_s``."""
    host_s = t_last_s / (1.0 + link.clock_ppm * 1e-6)
    ready = host_s + link.processing_s
    sent = np.ceil(ready / link.connection_interval_s) * link.connection_interval_s
    arrival = sent + link.latency_s + rng.exponential(link.jitter_s, t_last_s.shape[0])
    arrival = np.maximum.accumulate(arrival)  # one connection delivers notifications in order
    out: NDArray[np.int64] = host0_ns + np.round(arrival * 1e9).astype(np.int64)
    return out


def write_simulated_session(
    path: str | Path,
    run: SimulatedRun,
    link: LinkSettings | None = None,
    *,
    start_utc: datetime = DEFAULT_START_UTC,
    keep_samples_file: bool = True,
) -> tuple[Recording, dict[str, Any]]:
    """Write ``run`` as a reference-protocol session with its truth tables; returns it and a link report.

    ``keep_samples_file=False`` removes ``samples.parquet`` after closing (the raw log is the lossless
    source; :func:`imu.io.session.open_session` rebuilds the samples from it), for small bundled sessions.
    """
    link = link or LinkSettings()
    sensor = run.settings.sensor
    if not float(sensor.rate_hz).is_integer():
        raise InputError("the reference protocol needs a whole sampling rate", found=f"{sensor.rate_hz} Hz")
    rate = int(sensor.rate_hz)
    samples = run.samples
    packets = encode_packets(
        samples.acc,
        samples.gyr,
        rate_hz=rate,
        samples_per_packet=link.samples_per_packet,
        acc_range_g=int(sensor.acc_range_g),
        gyr_range_dps=int(sensor.gyr_range_dps),
    )
    rng = np.random.default_rng([run.settings.seed, LINK_SEED_OFFSET])
    n_packets = len(packets)
    last_index = np.minimum(np.arange(1, n_packets + 1) * link.samples_per_packet, len(samples)) - 1
    lost = lost_packets(n_packets, link, rng)
    host0_ns = math.floor(start_utc.timestamp()) * 1_000_000_000
    host_ns = host_receive_ns(last_index / rate, link, host0_ns, rng)

    settings = {
        "rate_hz": rate,
        "acc_range_g": int(sensor.acc_range_g),
        "gyr_range_dps": int(sensor.gyr_range_dps),
        "samples_per_packet": link.samples_per_packet,
        "simulation": {**run.meta(), "link": asdict(link)},
    }
    mounting = {
        "source": "simulation (ground truth)",
        "matrix": run.mounting.tolist(),
        "convention": "v_body(ap, v, ml) = M @ v_sensor(x, y, z)",
    }
    device = {"protocol": "reference", "name": "imu simulated runner", "firmware": "imu.sim"}
    writer = SessionWriter.create(
        path, device=device, settings=settings, mounting=mounting, start_utc=start_utc
    )
    with writer:
        for keep, payload, t_ns in zip(~lost, packets, host_ns.tolist(), strict=True):
            if keep:
                writer.append(payload, t_ns)
        writer.write_truth("steps", run.steps)
        writer.write_truth("strides", run.strides)
        recording = writer.close()
    if not keep_samples_file:
        os.remove(Path(path) / SAMPLES_FILE)
    sizes = np.diff(np.concatenate(([0], last_index + 1)))
    report = {"packets": n_packets, "lost_packets": int(lost.sum()), "lost_samples": int(sizes[lost].sum())}
    return recording, report
