"""The host clock the link stamps notifications with, and sleeps on.

Choice: **monotonic time on the Unix scale**. The notification callback reads ``time.monotonic_ns()``
(cheap, never steps back when NTP or the user adjusts the wall clock, which would fake a gap or a drift)
and adds an offset to Unix time measured once when the timebase is made. Stamps are therefore Unix ns as
the session format records them (``host_clock: unix_ns``) and strictly follow the host's oscillator for the
whole recording; only their absolute origin carries the (millisecond) uncertainty of that one reading.

:class:`AcceleratedTime` is the same clock running ``speed`` times faster, for virtual sensors: the
virtual device schedules its notifications on it, the link stamps and backs off on it, so a simulated
hour with twenty reconnects takes seconds while every time in the recording stays on the simulated scale.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Timebase(Protocol):
    """A host clock: ``now_ns`` (Unix ns) and ``sleep`` (seconds on this clock)."""

    def now_ns(self) -> int: ...

    async def sleep(self, seconds: float) -> None: ...


class HostTime:
    """The real host clock: monotonic, expressed as Unix ns."""

    def __init__(self) -> None:
        self._offset_ns = time.time_ns() - time.monotonic_ns()

    def now_ns(self) -> int:
        return time.monotonic_ns() + self._offset_ns

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class AcceleratedTime:
    """A host clock starting at ``start_unix_ns`` and running ``speed`` times faster than real time."""

    def __init__(self, speed: float = 1.0, start_unix_ns: int | None = None) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be positive, not {speed}")
        self.speed = float(speed)
        self._start_ns = time.time_ns() if start_unix_ns is None else int(start_unix_ns)
        self._real0_ns = time.monotonic_ns()

    def now_ns(self) -> int:
        return self._start_ns + round((time.monotonic_ns() - self._real0_ns) * self.speed)

    def restart(self) -> None:
        """Start counting from ``start_unix_ns`` again now (when the virtual sensors are switched on)."""
        self._real0_ns = time.monotonic_ns()

    def elapsed_s(self) -> float:
        return (self.now_ns() - self._start_ns) * 1e-9

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)

    async def sleep_until_s(self, elapsed_s: float) -> None:
        """Sleep until ``elapsed_s`` seconds after the start (returns at once when already past)."""
        ahead_s = elapsed_s - self.elapsed_s()
        if ahead_s > 0:
            await asyncio.sleep(ahead_s / self.speed)
