"""A virtual sensor: a GATT table, a command handler and a radio that streams a simulated run.

Subclasses (one per protocol) say which characteristics exist, how commands are answered, when a stream
runs and how samples become notification bytes (with the protocol's own ``encode_*`` functions). This base
runs the sensor's clock and radio on a :class:`~imu.link.timebase.AcceleratedTime`: the samples of the run
are taken at ``index / rate`` seconds after the sensor was switched on, a packet is sent ``latency_s``
after its last sample, and every packet gets a fate from :class:`~imu.link.virtual.faults.FaultDrawer`.
Everything it sends or drops is written to :attr:`VirtualDevice.injected`.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from imu.link.timebase import AcceleratedTime
from imu.link.virtual.faults import FaultDrawer, FaultSettings, Injected, PacketRecord
from imu.sim.runner import SimulatedRun

if TYPE_CHECKING:
    from imu.link.virtual.backend import VirtualBleakClient

NotifyCallback = Callable[[bytearray], None]


@dataclass(frozen=True)
class Characteristic:
    """One characteristic of the virtual GATT table (``properties`` as bleak names them)."""

    uuid: str
    properties: tuple[str, ...]


@dataclass(frozen=True)
class Packet:
    """Notifications that share one fate (a frame, or a message split over notifications)."""

    stream: str
    i0: int
    i1: int
    notifications: tuple[tuple[str, bytes], ...]


class DeviceUnreachable(Exception):
    """The virtual sensor is not advertising (switched off, or down after a disconnect)."""


class VirtualDevice:
    """Base of the virtual sensors; see the module docstring. ``address`` and ``name`` as it advertises."""

    kind: ClassVar[str]
    service_uuid: ClassVar[str]
    characteristics: ClassVar[tuple[Characteristic, ...]]
    samples_per_packet: int = 8

    def __init__(
        self,
        run: SimulatedRun,
        faults: FaultSettings | None = None,
        *,
        address: str = "00:00:00:00:00:01",
        name: str | None = None,
    ) -> None:
        self.run = run
        self.faults = faults or FaultSettings()
        self.address = address
        self.name = name or self.default_name()
        self.rate_hz = float(run.rate_hz)
        self.injected = Injected()
        self.client: VirtualBleakClient | None = None
        self._subscribers: dict[str, NotifyCallback] = {}
        self._drawer = FaultDrawer(self.faults)
        self._disconnects = self.faults.disconnect_times_s()
        self._down_until_s = -math.inf
        self._time: AcceleratedTime | None = None
        self._held: Packet | None = None  # a packet to be delivered after the next (reordering)
        self._burst_left = 0
        self._burst_release_s = 0.0

    # ------------------------------------------------------------------------------ protocol specifics
    def default_name(self) -> str:
        return f"virtual {self.kind}"

    def streaming(self) -> bool:
        """Whether a stream runs now (the protocol's commands and the connection decide)."""
        raise NotImplementedError

    def packets(self, i0: int, i1: int) -> list[Packet]:
        """The packets carrying samples [i0, i1) (encoded at send time: sequence numbers are stateful)."""
        raise NotImplementedError

    def handle_write(self, uuid: str, data: bytes) -> list[tuple[str, bytes]]:
        """Act on a write; returns the notifications it answers with."""
        raise NotImplementedError

    def handle_read(self, uuid: str) -> bytes:
        return b""

    def on_disconnect(self) -> None:
        """The connection is gone: the protocol's streams stop (as the specs say)."""

    def device_time_s(self, true_s: float) -> float:
        """The sensor's clock for a true time (it runs ``clock_ppm`` fast)."""
        return true_s * (1.0 + self.faults.clock_ppm * 1e-6)

    # ------------------------------------------------------------------------------- the connection
    @property
    def now_s(self) -> float:
        return self._time.elapsed_s() if self._time is not None else 0.0

    def accept(self, client: VirtualBleakClient) -> None:
        if self._time is None or self.now_s < self._down_until_s or self.client is not None:
            self.injected.refused_connections += 1
            raise DeviceUnreachable(self.address)
        self.client = client
        self._subscribers = {}
        self.injected.connections += 1

    def release(self, client: VirtualBleakClient) -> None:
        """The client disconnected on its own."""
        if self.client is client:
            self._drop()

    def subscribe(self, uuid: str, callback: NotifyCallback | None) -> None:
        if callback is None:
            self._subscribers.pop(uuid, None)
        else:
            self._subscribers[uuid] = callback

    def subscribed(self, uuid: str) -> bool:
        return uuid in self._subscribers

    def write(self, uuid: str, data: bytes) -> None:
        """A write arrives; its answers are notified before any data of a stream it starts (as sensors do)."""
        for answer_uuid, payload in self.handle_write(uuid, data):
            self._notify(answer_uuid, payload)

    def _notify(self, uuid: str, payload: bytes) -> None:
        callback = self._subscribers.get(uuid)
        if callback is not None and self.client is not None:
            self.injected.notifications.append((uuid, payload))
            callback(bytearray(payload))

    def _drop(self) -> None:
        self.client = None
        self._subscribers = {}
        self._held = None
        self.on_disconnect()

    def _disconnect_due(self) -> None:
        while self._disconnects and self._disconnects[0] <= self.now_s:
            at_s = self._disconnects.pop(0)
            self.injected.disconnects_s.append(at_s)
            self._down_until_s = at_s + self.faults.down_s
            client = self.client
            if self._held is not None:
                self._record(self._held, "not_streamed")
            if client is not None:
                self.injected.dropped_connections += 1
                self._drop()
                client.lost_connection()

    # ---------------------------------------------------------------------------------------- radio
    async def serve(self, time: AcceleratedTime) -> None:
        """Switch the sensor on and stream the run on ``time`` until its samples are used up."""
        self._time = time
        n = len(self.run.samples)
        cursor = 0
        latency_s = self.faults.latency_s
        while cursor < n:
            self._disconnect_due()
            if not self.streaming():
                await time.sleep(0.02)
                taken = min(n, math.ceil((self.now_s - latency_s) * self.rate_hz))
                if taken > cursor and not self.streaming():
                    self._record(Packet("*", cursor, taken, ()), "not_streamed")
                    cursor = taken
                continue
            i1 = min(cursor + self.samples_per_packet, n)
            send_s = i1 / self.rate_hz + latency_s
            if self._burst_left == 0 and self._drawer.burst():  # held back, then sent back to back
                self._burst_left = self.faults.burst_packets
                self._burst_release_s = min(cursor + self._burst_left * self.samples_per_packet, n)
                self._burst_release_s = self._burst_release_s / self.rate_hz + latency_s
            if self._burst_left:
                self._burst_left -= 1
                send_s = self._burst_release_s
            await time.sleep_until_s(send_s)
            self._disconnect_due()
            if not self.streaming():
                continue  # the samples are accounted for by the not-streaming branch
            for packet in self.packets(cursor, i1):
                self._send(packet)
            cursor = i1
            await asyncio.sleep(0)  # let the host side run between packets, as a radio would
        if self._held is not None:
            self._deliver(self._held, "reordered")

    def _send(self, packet: Packet) -> None:
        fate = self._drawer.fate()
        if fate == "lost":
            self._record(packet, fate)
            return
        if fate == "reordered" and self._held is None:
            self._held = packet
            return
        self._deliver(packet, "delivered" if fate == "reordered" else fate)
        if fate == "duplicated":
            for uuid, payload in packet.notifications:
                self._notify(uuid, payload)
            self.injected.deliveries.append((packet.stream, packet.i0, packet.i1))
        if self._held is not None:
            held, self._held = self._held, None
            self._deliver(held, "reordered")

    def _deliver(self, packet: Packet, fate: str) -> None:
        for uuid, payload in packet.notifications:
            self._notify(uuid, payload)
        if self.client is not None:
            self.injected.deliveries.append((packet.stream, packet.i0, packet.i1))
        self._record(packet, fate)

    def _record(self, packet: Packet, fate: str) -> None:
        streams = self.streams() if packet.stream == "*" else (packet.stream,)
        for stream in streams:
            self.injected.packets.append(PacketRecord(stream, packet.i0, packet.i1, fate))

    def streams(self) -> tuple[str, ...]:
        """The packet streams this sensor sends (Polar: ``acc`` and ``gyr``; the others: ``data``)."""
        return ("data",)
