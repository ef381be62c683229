"""Background threads that feed the live analysis: a recording replayed at N× real time, or a sensor.

Both run :class:`~imu.dashboard.live.LiveAnalysis` (the same :class:`~imu.gait.pipeline.GaitPipeline` as
``imu analyze``) in their own thread and write into the shared :class:`~imu.dashboard.state.LiveState`;
the web server only reads it. ``stop()`` is safe from any thread (Ctrl-C in the main thread); after
``join()`` the analysis has been flushed, the link stopped and a recorded session closed.

Replay pacing: every ``tick_s`` the producer feeds all samples whose recording time has come
(``speed`` × wall time since the start), at most ``max_block_s`` of recording at once, so a machine slower
than the requested speed falls behind smoothly instead of freezing the page.

Live: :class:`~imu.link.ble.BleLink` runs in an asyncio loop in the thread; its ``on_block`` callback only
appends the block to a list (the link's consumer must stay fast); a task hands the collected blocks to the
analysis every ``tick_s`` and copies the link statistics into the state. ``--record`` writes the session
exactly as ``imu record`` does (every notification to the raw log before it is decoded).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from imu.dashboard.live import LiveAnalysis
from imu.dashboard.state import LiveState
from imu.fatigue import Baseline
from imu.samples import Recording, SampleBlock

log = logging.getLogger(__name__)


class _Producer(threading.Thread):
    def __init__(self, state: LiveState, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.state = state
        self._stop_event = threading.Event()
        self.error: BaseException | None = None

    def stop(self) -> None:
        self._stop_event.set()

    @property
    def stopped(self) -> bool:
        return self._stop_event.is_set()

    def run(self) -> None:
        try:
            self.produce()
        except Exception as exc:  # shown on the page and returned by the command; never a silent death
            log.exception("the producer failed")
            self.error = exc
            self.state.set_status(f"error: {exc}")

    def produce(self) -> None:
        raise NotImplementedError


class ReplayProducer(_Producer):
    """Replays ``recording`` through the live analysis at ``speed`` × real time."""

    def __init__(
        self,
        recording: Recording,
        state: LiveState,
        *,
        speed: float = 1.0,
        tick_s: float = 0.05,
        max_block_s: float = 10.0,
        baseline: Baseline | None = None,
    ) -> None:
        super().__init__(state, "imu replay")
        if not speed > 0:
            raise ValueError(f"--speed must be positive, not {speed}")
        self.recording = recording
        self.speed = float(speed)
        self.tick_s = tick_s
        self.max_block_s = max_block_s
        samples = recording.samples
        self.analysis = LiveAnalysis(recording.rate_hz, samples.has_gyr, state, baseline=baseline)

    def produce(self) -> None:
        samples = self.recording.samples
        t = samples.t_s
        self.state.set_status("replaying")
        wall0, i, n = time.monotonic(), 0, len(samples)
        max_n = max(1, round(self.max_block_s * self.recording.rate_hz))
        while i < n and not self.stopped:
            due = t[0] + (time.monotonic() - wall0) * self.speed
            j = min(int(np.searchsorted(t, due, side="right")), i + max_n)
            if j > i:
                self.analysis.update(samples.slice(i, j))
                i = j
            else:
                self._stop_event.wait(self.tick_s)
        self.analysis.flush()
        self.state.set_status("stopped" if i < n else "finished")


class LiveProducer(_Producer):
    """Streams a sensor (``address`` with bleak's ``backend``, e.g. a virtual sensor's) into the analysis.

    ``protocol`` as for :class:`~imu.link.ble.BleLink`; ``record_to`` a new session folder or None;
    ``seconds`` stops after that long (timebase seconds), None runs until :meth:`stop`. ``air``: a virtual
    sensor's :class:`~imu.link.virtual.VirtualAir` (switched on and off with the link).
    """

    def __init__(
        self,
        state: LiveState,
        address: str,
        *,
        protocol: Any = None,
        backend: Any = None,
        timebase: Any = None,
        air: Any = None,
        record_to: Path | None = None,
        seconds: float | None = None,
        tick_s: float = 0.25,
        baseline: Baseline | None = None,
    ) -> None:
        super().__init__(state, "imu live")
        self.address = address
        self.protocol = protocol
        self.backend = backend
        self.timebase = timebase
        self.air = air
        self.record_to = record_to
        self.seconds = seconds
        self.tick_s = tick_s
        self.baseline = baseline
        self.analysis: LiveAnalysis | None = None
        self.stats: dict[str, Any] | None = None
        self.recording: Recording | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._link: Any = None

    def stop(self) -> None:
        super().stop()
        loop, link = self._loop, self._link
        if loop is not None and link is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(link.stop)

    def produce(self) -> None:
        asyncio.run(self._stream())

    async def _stream(self) -> None:
        from imu.io.session import SessionWriter
        from imu.link.ble import BleLink

        self._loop = asyncio.get_running_loop()
        pending: list[SampleBlock] = []
        writer: SessionWriter | None = None
        rate_hz = 0.0

        def on_ready(protocol: Any) -> None:
            nonlocal writer, rate_hz
            settings = protocol.settings()
            rate_hz = float(settings["rate_hz"])
            if self.record_to is not None:
                meta = protocol.device_meta(self.address)
                writer = SessionWriter.create(self.record_to, device=meta, settings=settings)

        def sink(channel: int, payload: bytes, host_time_ns: int) -> None:
            if writer is not None:
                writer.append(payload, host_time_ns, channel)

        link = BleLink(
            self.address,
            self.protocol,
            sink=sink,
            on_ready=on_ready,
            on_block=pending.append,
            backend=self.backend,
            timebase=self.timebase,
        )
        self._link = link
        if self.stopped:
            link.stop()
        if self.air is not None:
            self.air.switch_on()
        self.state.set_status("connecting")
        feeder = asyncio.create_task(self._feed(link, pending, lambda: rate_hz))
        try:
            await link.run(self.seconds)
        finally:
            feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feeder
            self._drain(pending, rate_hz)
            if self.analysis is not None:
                self.analysis.flush()
            self.stats = asdict(link.stats)
            self.state.set_link(self.stats)
            if writer is not None and not writer.closed:
                self.recording = writer.close()
            if self.air is not None:
                await self.air.switch_off()
            self.state.set_status("stopped")

    async def _feed(self, link: Any, pending: list[SampleBlock], rate_hz: Any) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            self._drain(pending, rate_hz())
            stats = asdict(link.stats)
            self.state.set_link(stats)
            self.state.set_status("streaming" if stats["connected"] else "reconnecting")

    def _drain(self, pending: list[SampleBlock], rate_hz: float) -> None:
        if not pending:
            return
        blocks = pending[:]
        del pending[:]  # the same list the link appends to (one thread: no race)
        block = SampleBlock.concat(blocks)
        if self.analysis is None:
            self.analysis = LiveAnalysis(rate_hz, block.has_gyr, self.state, baseline=self.baseline)
        self.analysis.update(block)
