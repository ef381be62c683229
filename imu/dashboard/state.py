"""What the producer thread has found so far, shared with the web server's threads, in bounded memory.

One lock guards everything; the producer writes (:class:`LiveState` methods), each page refresh takes a
:class:`Snapshot` (a copy, so rendering never holds the lock). Memory stays bounded for a run of hours:
the raw trace, the recent steps and the frame-confidence history are ring buffers of fixed size; only the
minute rows grow, by one small row per minute of running (a three-hour run: 180 rows).
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from imu.samples import FloatArray


class RingBuffer:
    """The last ``capacity`` values of ``width`` float columns (oldest first when read)."""

    def __init__(self, capacity: int, width: int) -> None:
        self.capacity = max(1, int(capacity))
        self._data = np.full((self.capacity, width), np.nan)
        self._n = 0  # values ever pushed

    def push(self, rows: FloatArray) -> None:
        rows = np.asarray(rows, float).reshape(-1, self._data.shape[1])
        rows = rows[-self.capacity :]
        k = rows.shape[0]
        at = (self._n + np.arange(k)) % self.capacity
        self._data[at] = rows
        self._n += k

    def __len__(self) -> int:
        return min(self._n, self.capacity)

    @property
    def pushed(self) -> int:
        return self._n

    def values(self) -> FloatArray:
        n = len(self)
        start = (self._n - n) % self.capacity
        return np.roll(self._data, -start, axis=0)[:n].copy()


@dataclass(frozen=True)
class Snapshot:
    """A consistent copy of the state for one page refresh (see :class:`LiveState` for the fields)."""

    status: str
    source: str
    data_t_s: float
    n_samples: int
    n_steps: int
    n_running_steps: int
    trace: FloatArray  # (N, 2): t_s, vertical acceleration in g
    steps: list[dict[str, Any]]  # recent steps: t_s, side, impact_g, contact_time_s
    current: dict[str, Any]  # rolling-window figures with drift and flags
    baseline: dict[str, Any] | None  # figure -> {mean, sd, band}; t_start_s
    minutes: list[dict[str, Any]]  # minute rows from ``minutes_from`` on
    n_minutes: int
    minutes_version: int  # changes when the minute table is replaced (rebuild, do not extend)
    confidence: FloatArray  # (N, 2): t_s, frame confidence (0-1)
    link: dict[str, Any] | None
    baseline_eta_s: float | None


@dataclass
class LiveState:
    """Thread-safe shared state. ``trace_s``: seconds of raw vertical acceleration kept at ``rate_hz``."""

    rate_hz: float = 208.0
    trace_s: float = 8.0
    max_steps: int = 64
    max_confidence: int = 4096
    source: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.status = "starting"
        self._trace = RingBuffer(round(self.trace_s * self.rate_hz), 2)
        self._confidence = RingBuffer(self.max_confidence, 2)
        self._steps: deque[dict[str, Any]] = deque(maxlen=self.max_steps)
        self._minutes: list[dict[str, Any]] = []
        self._minutes_version = 0
        self._current: dict[str, Any] = {}
        self._baseline: dict[str, Any] | None = None
        self._baseline_eta_s: float | None = None
        self._link: dict[str, Any] | None = None
        self._data_t_s = float("nan")
        self._n_samples = 0
        self._n_steps = 0
        self._n_running = 0

    # ------------------------------------------------------------------ writers (the producer)
    def set_status(self, status: str) -> None:
        with self._lock:
            self.status = status

    def add_samples(self, t_s: FloatArray, vertical_g: FloatArray) -> None:
        with self._lock:
            self._trace.push(np.column_stack([t_s, vertical_g]))
            self._n_samples += len(t_s)
            if len(t_s):
                self._data_t_s = float(t_s[-1])

    def add_steps(self, steps: list[dict[str, Any]], n_running: int) -> None:
        with self._lock:
            self._steps.extend(steps)
            self._n_steps += len(steps)
            self._n_running += n_running

    def add_minutes(self, rows: list[dict[str, Any]]) -> None:
        with self._lock:
            self._minutes.extend(rows)

    def replace_minutes(self, rows: list[dict[str, Any]]) -> None:
        """The final minute table (at the end of a run, when the last bouts are known)."""
        with self._lock:
            self._minutes = list(rows)
            self._minutes_version += 1

    def set_current(
        self, current: dict[str, Any], baseline: dict[str, Any] | None, eta_s: float | None
    ) -> None:
        with self._lock:
            self._current = dict(current)
            self._baseline = baseline
            self._baseline_eta_s = eta_s

    def add_confidence(self, t_s: float, confidence: float) -> None:
        with self._lock:
            self._confidence.push(np.array([[t_s, confidence]]))

    def set_link(self, stats: dict[str, Any]) -> None:
        with self._lock:
            self._link = dict(stats)

    # ------------------------------------------------------------------ reader (the web server)
    def snapshot(self, minutes_from: int = 0) -> Snapshot:
        with self._lock:
            return Snapshot(
                status=self.status,
                source=self.source,
                data_t_s=self._data_t_s,
                n_samples=self._n_samples,
                n_steps=self._n_steps,
                n_running_steps=self._n_running,
                trace=self._trace.values(),
                steps=list(self._steps),
                current=dict(self._current),
                baseline=self._baseline,
                minutes=self._minutes[minutes_from:],
                n_minutes=len(self._minutes),
                minutes_version=self._minutes_version,
                confidence=self._confidence.values(),
                link=None if self._link is None else dict(self._link),
                baseline_eta_s=self._baseline_eta_s,
            )
