"""What a virtual sensor's radio does wrong, and the record of what it did (the tests' ground truth)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from imu.errors import InputError

FATES = ("delivered", "lost", "duplicated", "reordered", "not_streamed")
"""What became of a packet: arrived once; lost on the air; arrived twice; arrived after its successor;
taken while no stream was running (disconnected, or not started yet), so never sent."""


@dataclass(frozen=True)
class FaultSettings:
    """Faults, all drawn from ``seed``. Percentages are of packets (a packet: the notifications of one frame).

    ``loss_pct`` with ``mean_burst_packets``: bursty loss (a two-state good/bad radio). ``duplicate_pct``:
    a packet notified twice in a row. ``reorder_pct``: a packet delivered after the next one.
    ``burst_pct`` / ``burst_packets``: delivery held back and released in one burst (radio retries).
    ``clock_ppm``: the sensor's clock runs this fast against the host. ``disconnects`` evenly spread
    (± a quarter spacing) over ``disconnect_span_s`` seconds, each leaving the sensor unreachable for
    ``down_s`` seconds. ``latency_s``: from a packet's last sample to its notification.
    """

    loss_pct: float = 0.0
    mean_burst_packets: float = 2.0
    duplicate_pct: float = 0.0
    reorder_pct: float = 0.0
    burst_pct: float = 0.0
    burst_packets: int = 4
    clock_ppm: float = 0.0
    disconnects: int = 0
    disconnect_span_s: float = 0.0
    down_s: float = 2.0
    latency_s: float = 0.008
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("loss_pct", "duplicate_pct", "reorder_pct", "burst_pct"):
            value = getattr(self, name)
            if not 0.0 <= value < 50.0:
                raise InputError(f"{name} out of range", expected="0 ≤ value < 50 %", found=f"{value}")
        if self.mean_burst_packets < 1.0 or self.burst_packets < 1:
            raise InputError("bursts must be at least one packet long", found=f"{self.mean_burst_packets}")
        if self.disconnects < 0 or self.down_s < 0 or self.latency_s < 0:
            raise InputError("disconnects, down time and latency must not be negative")

    def disconnect_times_s(self) -> list[float]:
        """When the sensor drops the connection (true seconds since it was switched on)."""
        if self.disconnects == 0:
            return []
        rng = np.random.default_rng([self.seed, 0xD15C])
        spacing = self.disconnect_span_s / (self.disconnects + 1)
        times = spacing * (np.arange(1, self.disconnects + 1) + rng.uniform(-0.25, 0.25, self.disconnects))
        return sorted(times.tolist())


class FaultDrawer:
    """Draws each packet's fate in order (the bad state of the radio persists across packets)."""

    def __init__(self, settings: FaultSettings) -> None:
        self.settings = settings
        self._rng = np.random.default_rng([settings.seed, 0xFA17])
        p = settings.loss_pct / 100.0
        self._leave_bad = 1.0 / settings.mean_burst_packets
        self._enter_bad = p * self._leave_bad / (1.0 - p) if p > 0 else 0.0
        self._bad = False

    def fate(self) -> str:
        s = self.settings
        u = self._rng.random(4)
        self._bad = (u[0] >= self._leave_bad) if self._bad else (u[0] < self._enter_bad)
        if self._bad:
            return "lost"
        if u[1] < s.duplicate_pct / 100.0:
            return "duplicated"
        if u[2] < s.reorder_pct / 100.0:
            return "reordered"
        return "delivered"

    def burst(self) -> bool:
        return bool(self._rng.random() < self.settings.burst_pct / 100.0)


@dataclass(frozen=True)
class PacketRecord:
    """One packet the sensor produced: which stream, which simulated samples [i0, i1), and its fate."""

    stream: str
    i0: int
    i1: int
    fate: str


@dataclass
class Injected:
    """Exactly what a virtual sensor did: every packet's fate, every notification delivered, in order."""

    packets: list[PacketRecord] = field(default_factory=list)
    notifications: list[tuple[str, bytes]] = field(default_factory=list)
    """(characteristic UUID, payload) in delivery order: data, command responses, duplicates included."""
    deliveries: list[tuple[str, int, int]] = field(default_factory=list)
    """(stream, i0, i1) of every data packet as it was delivered, in order (a duplicate appears twice)."""
    disconnects_s: list[float] = field(default_factory=list)
    connections: int = 0
    dropped_connections: int = 0
    """Disconnects that hit a live connection (the others came while the host was away anyway)."""
    refused_connections: int = 0

    def fates(self, stream: str | None = None) -> Counter[str]:
        return Counter(p.fate for p in self.packets if stream is None or p.stream == stream)
