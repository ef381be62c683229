"""From decoded frames on the device's clock to sample blocks on session time, with loss and drift visible.

Session time is the **device's** clock, in seconds since the first sample: the board's sample clock is the
only one that saw the samples being taken, and it is free of the host's Bluetooth latency and jitter. The
host's receive time serves two purposes only: estimating how fast the device clock runs against the host
(``drift_ppm``, so a user can map session time to wall-clock time) and bridging a device clock reset.

Placing a frame's samples (``device_time_s`` stamps the frame's LAST sample):

- a frame that follows the previous one without loss (its interval holds its own samples and no more than
  :data:`GAP_FACTOR` − 1 extra periods) has its samples spread evenly over the interval since the previous
  frame's last sample, so the device's actual output rate is honoured and no error accumulates;
- after a loss (a sequence number skipped, or a device-time jump), and for the first frame, the samples
  end at the frame's stamp and go back at the measured sample period: the lost time stays a visible jump
  in ``t_s`` (a gap), it is never spread over.

Loss is seen two ways: ``lost_packets`` from sequence numbers (u16, wrapping) and ``gaps`` /
``missing_samples`` from device-time jumps (which also catch a loss of a whole sequence-number cycle). A
repeated frame is dropped as a duplicate; a frame older than the last one placed (out of order) is dropped
and counted, since samples already handed on are never retracted. Frames without a device timestamp are
placed by counting samples (and lost packets) at the configured rate.

The output depends only on the sequence of frames, never on how they are batched into calls.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from imu.constants import GAP_FACTOR
from imu.devices.base import SensorFrame
from imu.errors import ImuError, InputError
from imu.samples import FloatArray, Gap, SampleBlock

SEQ_MODULUS = 1 << 16
RESET_BACKSTEP_S = 1.0
"""Device time going back by more than this is a device clock reset (a reboot), not a late frame."""


@dataclass(frozen=True)
class ClockStats:
    """What the clock saw so far. ``drift_ppm`` > 0: the device clock runs fast against the host."""

    packets: int
    samples: int
    lost_packets: int
    gaps: int
    missing_samples: int
    duplicates: int
    out_of_order: int
    clock_resets: int
    drift_ppm: float
    measured_rate_hz: float


class DeviceClock:
    """Maps :class:`SensorFrame` streams (each frame with its host receive time) to :class:`SampleBlock`.

    ``rate_hz`` is the configured rate, used when a frame does not carry one. ``drift_window_s`` is the
    width of the windows whose smallest host−device offset (the least-delayed packet) forms the lower
    envelope the drift is fitted to.
    """

    def __init__(self, *, rate_hz: float | None = None, drift_window_s: float = 5.0) -> None:
        self.rate_hz = rate_hz
        self.drift_window_s = drift_window_s
        self._has_gyr: bool | None = None
        self._last_seq: int | None = None
        self._last_device_s: float | None = None  # device time of the last placed sample (current epoch)
        self._origin_s = 0.0  # session time = device time - origin (per epoch)
        self._epoch = 0
        self._t_last_s = float("-inf")  # session time of the last placed sample
        self._host0_ns: int | None = None
        self._last_host_s = 0.0
        self._period_sum_s = 0.0  # device time spanned by frames placed without loss...
        self._period_samples = 0  # ...and the samples in them: the measured sample period
        self._next_index = 0
        self._packets = self._lost = self._dups = self._late = self._resets = self._missing = 0
        self._gaps: list[Gap] = []
        self._envelope: dict[tuple[int, int], tuple[float, float]] = {}  # (epoch, window) -> (t_s, offset_s)
        self._pending: list[tuple[float, float, SensorFrame]] = []  # (t_end_s, step_s, frame)
        self._restarted = False  # set by restart(): the next frame is placed after a gap

    # -------------------------------------------------------------------------------------- public
    def update(self, frames: Iterable[SensorFrame], host_time_ns: int) -> SampleBlock:
        """Place the frames of one notification received at ``host_time_ns``; returns their samples."""
        for frame in frames:
            self._place(frame, host_time_ns)
        return self._emit()

    def feed(self, notifications: Iterable[tuple[Sequence[SensorFrame], int]]) -> SampleBlock:
        """Place many notifications ``(frames, host_time_ns)`` at once (same result as one update each)."""
        for frames, host_time_ns in notifications:
            for frame in frames:
                self._place(frame, host_time_ns)
        return self._emit()

    def restart(self) -> None:
        """The stream was restarted (a reconnect, or a new START): the next frame lies after a gap.

        Sequence numbers restart with a new stream, so the last one is forgotten (no bogus loss count).
        Frames with a device timestamp then show the gap by their device time as usual; frames without one
        are placed after the host time elapsed since the last frame (at least their own length), so the
        time spent disconnected is never closed up by counting samples.
        """
        self._last_seq = None
        self._restarted = True

    @property
    def gaps(self) -> list[Gap]:
        return list(self._gaps)

    @property
    def measured_rate_hz(self) -> float:
        """The device's actual output rate measured on its own clock; NaN before two loss-free frames."""
        return self._period_samples / self._period_sum_s if self._period_sum_s > 0 else float("nan")

    @property
    def stats(self) -> ClockStats:
        return ClockStats(
            packets=self._packets,
            samples=self._next_index,
            lost_packets=self._lost,
            gaps=len(self._gaps),
            missing_samples=self._missing,
            duplicates=self._dups,
            out_of_order=self._late,
            clock_resets=self._resets,
            drift_ppm=self._drift_ppm(),
            measured_rate_hz=self.measured_rate_hz,
        )

    # ------------------------------------------------------------------------------------- placing
    def _nominal_period_s(self, frame: SensorFrame) -> float:
        rate = frame.rate_hz if frame.rate_hz else self.rate_hz
        if not rate or rate <= 0:
            raise InputError(
                "no sampling rate for a frame",
                expected="a rate in the frame or the settings",
                found=repr(rate),
            )
        return 1.0 / rate

    def _check_channels(self, frame: SensorFrame) -> None:
        if frame.acc is None:
            raise ImuError(
                "frames carrying only angular rate (as Polar sends them) are not merged yet; "
                "the clock needs accelerometer samples in every frame"
            )
        has_gyr = frame.gyr is not None
        if self._has_gyr is None:
            self._has_gyr = has_gyr
        elif has_gyr != self._has_gyr:
            raise ImuError(
                "the stream switched between frames with and without angular rate; "
                "merging separate accelerometer and gyroscope frames is not supported yet"
            )

    def _place(self, frame: SensorFrame, host_time_ns: int) -> None:
        n = frame.n_samples
        if n == 0:
            return
        self._check_channels(frame)
        if self._host0_ns is None:
            self._host0_ns = host_time_ns
        host_s = (host_time_ns - self._host0_ns) * 1e-9
        nominal_s = self._nominal_period_s(frame)
        period_s = 1.0 / self.measured_rate_hz if self._period_sum_s > 0 else nominal_s

        seq_delta = None
        if frame.seq is not None and self._last_seq is not None:
            seq_delta = (frame.seq - self._last_seq) % SEQ_MODULUS
        lost = seq_delta - 1 if seq_delta is not None and 0 < seq_delta < SEQ_MODULUS // 2 else 0

        device_s = frame.device_time_s
        if device_s is None:  # no timestamp: count samples (and those of lost packets) at the period
            if seq_delta is not None and (seq_delta == 0 or seq_delta >= SEQ_MODULUS // 2):
                self._drop(duplicate=seq_delta == 0)
                return
            last = self._last_device_s
            if last is None:
                device_s = (n - 1) * period_s
            elif self._restarted:  # no device time: the host measures how long the stream was away
                device_s = last + max(host_s - self._last_host_s, n * period_s + GAP_FACTOR * period_s)
            else:
                device_s = last + (lost * n + n) * period_s

        if self._last_device_s is None:  # first frame: session time 0 is its first sample
            self._origin_s = device_s - (n - 1) * period_s
            self._commit(frame, device_s, period_s, host_s, lost, contiguous=False)
            return

        step_s = device_s - self._last_device_s
        if step_s <= 0:
            if step_s < -RESET_BACKSTEP_S:
                self._reset_epoch(device_s, n, period_s, host_s)
                self._commit(frame, device_s, period_s, host_s, lost, contiguous=False)
            else:
                self._drop(duplicate=step_s == 0 and seq_delta in (None, 0))
            return
        interval_s = step_s - (n - 1) * period_s  # from the previous last sample to this first sample
        contiguous = interval_s <= GAP_FACTOR * period_s
        self._commit(frame, device_s, step_s / n if contiguous else period_s, host_s, lost, contiguous)

    def _drop(self, *, duplicate: bool) -> None:
        if duplicate:
            self._dups += 1
        else:
            self._late += 1

    def _reset_epoch(self, device_s: float, n: int, period_s: float, host_s: float) -> None:
        """Device clock restarted: continue session time by the host's elapsed time (at least one period)."""
        self._resets += 1
        self._epoch += 1
        t_end_s = max(self._t_last_s + host_s - self._last_host_s, self._t_last_s + n * period_s)
        self._origin_s = device_s - t_end_s

    def _commit(
        self, frame: SensorFrame, device_s: float, step_s: float, host_s: float, lost: int, contiguous: bool
    ) -> None:
        n = frame.n_samples
        t_end_s = device_s - self._origin_s
        t_first_s = t_end_s - (n - 1) * step_s
        if contiguous:
            self._period_sum_s += n * step_s
            self._period_samples += n
        elif self._next_index > 0:
            missing = max(1, round((t_first_s - self._t_last_s) / step_s) - 1)
            self._gaps.append(Gap(self._next_index, self._t_last_s, t_first_s, missing))
            self._missing += missing
        self._pending.append((t_end_s, step_s, frame))
        self._restarted = False
        self._lost += lost
        self._packets += 1
        self._next_index += n
        self._t_last_s = t_end_s
        self._last_device_s = device_s
        self._last_host_s = host_s
        if frame.seq is not None:
            self._last_seq = frame.seq
        key = (self._epoch, int(t_end_s // self.drift_window_s))
        offset_s = host_s - t_end_s
        best = self._envelope.get(key)
        if best is None or offset_s < best[1]:
            self._envelope[key] = (t_end_s, offset_s)

    def _emit(self) -> SampleBlock:
        """All placed frames as one block, sample times built in one vectorised pass."""
        start = self._next_index - sum(f.n_samples for _, _, f in self._pending)
        if not self._pending:
            return SampleBlock.empty(has_gyr=self._has_gyr is not False, start_index=start)
        t_end = np.array([p[0] for p in self._pending])
        step = np.array([p[1] for p in self._pending])
        counts = np.array([p[2].n_samples for p in self._pending])
        stops = np.cumsum(counts)
        from_end = np.repeat(stops, counts) - 1 - np.arange(int(stops[-1]))  # samples after this one in frame
        t_s: FloatArray = np.repeat(t_end, counts) - from_end * np.repeat(step, counts)
        acc = np.concatenate([f.acc for _, _, f in self._pending if f.acc is not None])
        gyr = (
            np.concatenate([f.gyr for _, _, f in self._pending if f.gyr is not None])
            if self._has_gyr
            else None
        )
        self._pending.clear()
        return SampleBlock(t_s, acc, gyr, start)

    # --------------------------------------------------------------------------------------- drift
    def _drift_ppm(self) -> float:
        """Theil–Sen slope of the lower envelope of host−device offset, within each clock epoch."""
        if len(self._envelope) < 3:
            return float("nan")
        keys = list(self._envelope)
        epoch = np.array([k[0] for k in keys])
        t = np.array([self._envelope[k][0] for k in keys])
        offset = np.array([self._envelope[k][1] for k in keys])
        i, j = np.triu_indices(len(keys), k=1)
        same = (epoch[i] == epoch[j]) & (t[j] != t[i])
        if not np.any(same):
            return float("nan")
        i, j = i[same], j[same]
        slope = np.median((offset[j] - offset[i]) / (t[j] - t[i]))
        # offset = host - device; d(offset)/d(device) = host/device rate - 1 = -drift
        return float(-slope * 1e6)
