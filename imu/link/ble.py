"""The Bluetooth LE link: connect, configure, stream for hours, reconnect, and count everything.

Shape (bleak's queue pattern): the notification callback only stamps the host time
(:class:`~imu.link.timebase.HostTime`: monotonic on the Unix scale) and enqueues
``(channel, bytes, host_time_ns)``; one consumer task then, in order, hands the notification to the
``sink`` (the recorder: on disk before anything else happens), lets the protocol see control responses,
decodes it and places it on the :class:`~imu.link.clock.DeviceClock`. The queue is bounded: when the
consumer falls ``queue_size`` notifications behind, new ones are dropped and counted (``queue_drops``)
rather than growing memory without limit; the dropped ones show up as gaps like radio losses.

Reconnects: a sensor that drops the link (or falls silent for ``stall_s``) is reconnected with
exponential backoff and jitter; the protocol re-enables notifications and restarts its streams. The link
writes a ``connected`` / ``disconnected`` event on :data:`~imu.io.session.LINK_EVENT_CHANNEL` into the same
queue, so the recording knows where the stream restarted and the clock marks the gap (never closes it).
A malformed notification is counted (``decode_errors``) and skipped with a log line; no exception from a
notification escapes the link. Only a sensor refusing the configuration (:class:`ProtocolError`), a
failing sink (the disk) or ``max_attempts`` consecutive failed connections end :meth:`BleLink.run`.

Why our own backoff rather than ``bleak-retry-connector``: that package retries one connection attempt a
few times (then raises), passes BlueZ-specific arguments to the client, sleeps on the wall clock and pulls
in D-Bus and adapter-management packages; a recording needs an indefinite supervised loop that also
restarts the streams, whose waits run on the link's (possibly accelerated) timebase.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient
from bleak.exc import BleakError

from imu.devices.base import Decoder
from imu.devices.registry import decoder_for
from imu.errors import ImuError
from imu.io.session import LINK_EVENT_CHANNEL
from imu.link.clock import DeviceClock
from imu.link.protocols import ProtocolError, SensorProtocol, protocol_for_services
from imu.link.timebase import HostTime, Timebase
from imu.samples import SampleBlock

log = logging.getLogger(__name__)

Sink = Callable[[int, bytes, int], None]
"""``sink(channel, payload, host_time_ns)``: where every notification and link event goes first."""

CONNECTED = b"connected"
DISCONNECTED = b"disconnected"
_LOGGED_ERRORS = 20  # decode errors logged as warnings before the rest go to debug


class LinkError(ImuError):
    """The link gave up (no connection after ``max_attempts`` tries)."""


@dataclass(frozen=True)
class ReconnectPolicy:
    """Timeouts and backoff, in seconds of the link's timebase.

    The n-th consecutive failure waits ``min(max_delay_s, first_delay_s * factor**(n-1))`` ± ``jitter``
    (a fraction); a connection that streamed for ``stable_s`` resets the count. ``stall_s`` without any
    notification while connected counts as a lost connection.
    """

    first_delay_s: float = 0.5
    max_delay_s: float = 30.0
    factor: float = 2.0
    jitter: float = 0.2
    stable_s: float = 30.0
    connect_timeout_s: float = 20.0
    stall_s: float = 10.0
    max_attempts: int | None = None

    def delay_s(self, failures: int, rng: random.Random) -> float:
        base = min(self.max_delay_s, self.first_delay_s * self.factor ** max(failures - 1, 0))
        return base * (1.0 + self.jitter * (2.0 * rng.random() - 1.0))


@dataclass(frozen=True)
class LinkStats:
    """What the link did so far (for the dashboard). Clock figures as in :class:`~imu.link.clock.ClockStats`.

    ``notifications`` counts what the callback received, ``queue_drops`` what it had to drop;
    ``duplicates`` / ``out_of_order`` add the Polar merger's to the clock's; ``queue_delay_ms``: from the
    callback's stamp to the consumer (the host's own latency), last and worst.
    """

    connected: bool
    connections: int
    reconnects: int
    disconnects: int
    failed_attempts: int
    stalls: int
    notifications: int
    queue_drops: int
    decode_errors: int
    packets: int
    samples: int
    lost_packets: int
    gaps: int
    missing_samples: int
    duplicates: int
    out_of_order: int
    unpaired_samples: int
    drift_ppm: float
    measured_rate_hz: float
    queue_delay_ms: float
    queue_delay_max_ms: float


class BleLink:
    """A supervised connection to one sensor at ``address``.

    ``protocol``: the sensor's driver, or None to recognise it from its GATT services on first connect.
    ``sink`` receives every notification and link event in order; ``on_ready(protocol)`` is called once,
    after the first connection fixed the settings and before any stream starts (create the session
    there); ``on_block`` gets each placed :class:`SampleBlock`. ``backend`` is bleak's backend hook
    (a virtual sensor's client class), ``timebase`` the host clock.
    """

    def __init__(
        self,
        address: str,
        protocol: SensorProtocol | None = None,
        *,
        sink: Sink | None = None,
        on_ready: Callable[[SensorProtocol], None] | None = None,
        on_block: Callable[[SampleBlock], None] | None = None,
        backend: type[BaseBleakClient] | None = None,
        timebase: Timebase | None = None,
        policy: ReconnectPolicy | None = None,
        queue_size: int = 8192,
        seed: int = 0,
    ) -> None:
        self.address = address
        self.protocol = protocol
        self.sink = sink
        self.on_ready = on_ready
        self.on_block = on_block
        self.backend = backend
        self.timebase: Timebase = timebase or HostTime()
        self.policy = policy or ReconnectPolicy()
        self.queue_size = queue_size
        self._rng = random.Random(seed)
        self._queue: asyncio.Queue[tuple[int, bytes, int]] = asyncio.Queue()
        self._stop = asyncio.Event()
        self._lost = asyncio.Event()
        self._decoder: Decoder | None = None
        self._clock: DeviceClock | None = None
        self._client: BleakClient | None = None
        self._consumer: asyncio.Task[None] | None = None
        self._last_rx_ns = 0
        self._counts = dict.fromkeys(
            ("connections", "disconnects", "failed", "stalls", "notifications", "drops", "errors"), 0
        )
        self._delay_ms = self._delay_max_ms = 0.0

    # ------------------------------------------------------------------------------------ public
    def stop(self) -> None:
        """Ask :meth:`run` to stop the streams, disconnect and return (safe from a signal handler)."""
        self._stop.set()

    @property
    def stats(self) -> LinkStats:
        c = self._counts
        clock = self._clock.stats if self._clock is not None else None
        merger_dups = int(getattr(self._decoder, "duplicates", 0) or 0)
        merger_late = int(getattr(self._decoder, "out_of_order", 0) or 0)
        return LinkStats(
            connected=self._client is not None and self._client.is_connected,
            connections=c["connections"],
            reconnects=max(c["connections"] - 1, 0),
            disconnects=c["disconnects"],
            failed_attempts=c["failed"],
            stalls=c["stalls"],
            notifications=c["notifications"],
            queue_drops=c["drops"],
            decode_errors=c["errors"],
            packets=clock.packets if clock else 0,
            samples=clock.samples if clock else 0,
            lost_packets=clock.lost_packets if clock else 0,
            gaps=clock.gaps if clock else 0,
            missing_samples=clock.missing_samples if clock else 0,
            duplicates=(clock.duplicates if clock else 0) + merger_dups,
            out_of_order=(clock.out_of_order if clock else 0) + merger_late,
            unpaired_samples=int(getattr(self._decoder, "unpaired_samples", 0) or 0),
            drift_ppm=clock.drift_ppm if clock else float("nan"),
            measured_rate_hz=clock.measured_rate_hz if clock else float("nan"),
            queue_delay_ms=self._delay_ms,
            queue_delay_max_ms=self._delay_max_ms,
        )

    async def run(self, duration_s: float | None = None) -> LinkStats:
        """Stream until :meth:`stop`, ``duration_s`` (timebase seconds) or cancellation; returns the stats.

        On any exit every notification already received is handed to the sink before returning.
        """
        timer = asyncio.create_task(self._stop_after(duration_s)) if duration_s is not None else None
        try:
            await self._supervise()
        finally:
            if timer is not None:
                timer.cancel()
            consumer, self._consumer = self._consumer, None
            if consumer is not None:
                consumer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await consumer
            if self._decoder is not None:
                while not self._queue.empty():  # the rest, synchronously: nothing received is lost
                    self._process(self._queue.get_nowait())
        return self.stats

    # ------------------------------------------------------------------------------- supervision
    async def _stop_after(self, duration_s: float) -> None:
        await self.timebase.sleep(duration_s)
        self._stop.set()

    async def _supervise(self) -> None:
        failures = 0
        while not self._stop.is_set():
            connected_ns: int | None = None
            client = BleakClient(
                self.address,
                disconnected_callback=self._on_disconnected,
                timeout=self.policy.connect_timeout_s,
                backend=self.backend,
            )
            self._client = client
            self._lost = asyncio.Event()
            try:
                await asyncio.wait_for(client.connect(), self.policy.connect_timeout_s)
                connected_ns = self.timebase.now_ns()
                self._event(CONNECTED, connected_ns)
                self._counts["connections"] += 1
                if self._decoder is None:
                    await self._configure(client)
                    self._consumer = asyncio.create_task(self._consume(), name="imu link consumer")
                await self._start_streams(client)
                self._last_rx_ns = self.timebase.now_ns()
                await self._watch()
            except ProtocolError:
                raise
            except (BleakError, TimeoutError, OSError, EOFError) as exc:
                failures += 1
                self._counts["failed"] += 1
                log.warning("%s: connection failed (%s): %s", self.address, type(exc).__name__, exc)
            finally:
                await self._close(client, connected_ns)
            if self._stop.is_set():
                break
            if (
                connected_ns is not None
                and self.timebase.now_ns() - connected_ns >= self.policy.stable_s * 1e9
            ):
                failures = 0
            if self.policy.max_attempts is not None and failures >= self.policy.max_attempts:
                raise LinkError(f"{self.address}: no connection after {failures} attempts")
            await self._wait_stop(self.policy.delay_s(max(failures, 1), self._rng))

    async def _configure(self, client: BleakClient) -> None:
        """First connection: recognise the sensor, fix its settings, build decoder and clock."""
        if self.protocol is None:
            uuids = [s.uuid for s in client.services]
            self.protocol = protocol_for_services(uuids, client.name)
            if self.protocol is None:
                raise ProtocolError(f"{self.address} is not a supported sensor (services {', '.join(uuids)})")
        await self.protocol.prepare(client)
        settings = self.protocol.settings()
        self._decoder = decoder_for(self.protocol.kind.protocol, settings)
        self._clock = DeviceClock(rate_hz=float(settings["rate_hz"]))
        if self.on_ready is not None:
            self.on_ready(self.protocol)

    async def _start_streams(self, client: BleakClient) -> None:
        """The protocol's start sequence, abandoned once the connection drops (no response will come)."""
        assert self.protocol is not None
        starting = asyncio.ensure_future(self.protocol.start(client, self._subscriber(client)))
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            await asyncio.wait([starting, lost], return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
        if not starting.done():
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError, BleakError):
                await starting
            raise BleakError("the sensor disconnected while its streams were being started")
        starting.result()

    async def _watch(self) -> None:
        """Until the connection is lost, stalls, or the link is stopped."""
        step_s = self.policy.stall_s / 4.0
        while not self._stop.is_set() and not self._lost.is_set():
            assert self.protocol is not None
            if self.protocol.refused is not None:
                raise self.protocol.refused
            await self._wait_any(self._lost, step_s)
            if (
                self.timebase.now_ns() - self._last_rx_ns > self.policy.stall_s * 1e9
                and not self._lost.is_set()
            ):
                self._counts["stalls"] += 1
                log.warning("%s: no data for %.1f s; reconnecting", self.address, self.policy.stall_s)
                return

    async def _wait_any(self, event: asyncio.Event, timeout_s: float) -> None:
        waits = [asyncio.ensure_future(event.wait()), asyncio.ensure_future(self._stop.wait())]
        sleeper = asyncio.ensure_future(self.timebase.sleep(timeout_s))
        try:
            await asyncio.wait([*waits, sleeper], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (*waits, sleeper):
                task.cancel()

    async def _wait_stop(self, timeout_s: float) -> None:
        await self._wait_any(self._stop, timeout_s)

    async def _close(self, client: BleakClient, connected_ns: int | None) -> None:
        """Stop the streams when we are the ones leaving, disconnect, and log the link event once."""
        try:
            if client.is_connected:
                if self._stop.is_set() and self.protocol is not None:
                    with contextlib.suppress(BleakError, TimeoutError, OSError):
                        await asyncio.wait_for(self.protocol.stop(client), 2.0)
                with contextlib.suppress(BleakError, TimeoutError, OSError):
                    await asyncio.wait_for(client.disconnect(), 5.0)
        finally:
            if connected_ns is not None and not self._lost.is_set():
                self._lost.set()
                self._counts["disconnects"] += 1
                self._event(DISCONNECTED, self.timebase.now_ns())

    def _on_disconnected(self, client: BleakClient) -> None:
        """bleak's callback for an unsolicited disconnect: stamp it into the queue, wake the supervisor."""
        if client is self._client and not self._lost.is_set():
            self._lost.set()
            self._counts["disconnects"] += 1
            self._event(DISCONNECTED, self.timebase.now_ns())

    # ----------------------------------------------------------------------------- notifications
    def _subscriber(self, client: BleakClient) -> Callable[[str, int], Any]:
        async def subscribe(uuid: str, channel: int) -> None:
            await client.start_notify(uuid, self._callback(channel))

        return subscribe

    def _callback(self, channel: int) -> Callable[[BleakGATTCharacteristic, bytearray], None]:
        now_ns = self.timebase.now_ns
        queue = self._queue
        counts = self._counts
        limit = self.queue_size

        def on_notification(_: BleakGATTCharacteristic, data: bytearray) -> None:
            host_time_ns = now_ns()  # first thing: the stamp
            counts["notifications"] += 1
            self._last_rx_ns = host_time_ns
            if queue.qsize() >= limit:
                counts["drops"] += 1
                return
            queue.put_nowait((channel, bytes(data), host_time_ns))

        return on_notification

    def _event(self, what: bytes, host_time_ns: int) -> None:
        self._queue.put_nowait((LINK_EVENT_CHANNEL, what, host_time_ns))  # never dropped: rare, tiny

    async def _consume(self) -> None:
        while True:
            item = await self._queue.get()
            self._process(item)

    def _process(self, item: tuple[int, bytes, int]) -> None:
        channel, payload, host_time_ns = item
        assert self._decoder is not None and self._clock is not None and self.protocol is not None
        if self.sink is not None:
            self.sink(channel, payload, host_time_ns)  # the disk first; a failing sink ends the link
        delay_ms = (self.timebase.now_ns() - host_time_ns) * 1e-6
        self._delay_ms = delay_ms
        self._delay_max_ms = max(self._delay_max_ms, delay_ms)
        if channel == LINK_EVENT_CHANNEL:
            self._clock.restart()
            reset = getattr(self._decoder, "reset", None)
            if callable(reset):
                reset()
            return
        self.protocol.observe(channel, payload)
        try:
            block = self._clock.update(self._decoder.decode(payload, channel), host_time_ns)
        except Exception as exc:  # a malformed notification must never end a recording
            self._counts["errors"] += 1
            level = logging.WARNING if self._counts["errors"] <= _LOGGED_ERRORS else logging.DEBUG
            log.log(
                level, "skipped a malformed notification on channel %d (%s): %s", channel, payload.hex(), exc
            )
            return
        if len(block) and self.on_block is not None:
            try:
                self.on_block(block)
            except Exception:
                log.exception("the block consumer failed; the link goes on")
