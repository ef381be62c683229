"""Accelerometer and gyroscope from separate frames (Polar PMD) put on one time axis.

Polar sends ACC and GYRO in frames of their own, each stamped with the device time of its last sample, and
the two streams need not cut their frames at the same samples. :class:`AccGyrMerger` wraps such a decoder
and yields frames carrying both, **on the accelerometer's sample times**:

- each frame's samples get device times the way :class:`~imu.link.clock.DeviceClock` places them: spread
  evenly back to the previous frame of the same stream when none was lost in between, otherwise spaced
  by the configured rate back from the frame's stamp;
- an accelerometer sample waits until the gyroscope has a sample at (within :data:`EDGE_PERIODS`) or
  after its time; its angular rate is then linearly interpolated between the two gyroscope samples around
  it (exact when both streams sample at the same instants, as one IMU chip does), or, at the edge of a
  gyroscope segment, taken from the gyroscope sample within :data:`EDGE_PERIODS` of it;
- an accelerometer sample that falls into a gyroscope gap (a lost GYRO frame, two gyroscope samples more
  than :data:`~imu.constants.GAP_FACTOR` periods apart) or before the first gyroscope sample cannot be
  given an angular rate: it is dropped from the merged stream and counted in ``unpaired_samples``, so the
  merged stream shows a gap there (the raw log keeps every byte); likewise when the gyroscope stream stalls
  for more than ``hold_limit_s`` behind the accelerometer;
- a repeated frame (same stamp as the stream's last) is dropped and counted in ``duplicates``, an older
  one in ``out_of_order`` (samples already handed on are never retracted); a jump back by more than
  :data:`~imu.link.clock.RESET_BACKSTEP_S` is a device clock reset and starts afresh.

Every decision is taken per frame, in arrival order, so the output depends only on the sequence of
notifications, never on how they are batched.
"""

from __future__ import annotations

import itertools
from typing import Any, ClassVar

import numpy as np

from imu.constants import GAP_FACTOR
from imu.devices.base import Decoder, FloatArray, SensorFrame
from imu.link.clock import RESET_BACKSTEP_S

EDGE_PERIODS = 0.25
"""At the edge of a gyroscope segment (before a gap, at the start) an accelerometer sample within this many
gyroscope periods of a gyroscope sample takes that sample's rate: the two streams' time estimates may
differ by microseconds after a loss, which must not cost a sample."""

_EMPTY = np.empty(0)
_EMPTY3 = np.empty((0, 3))


class _Stream:
    """Per-sample device times of one stream's frames (ACC or GYRO)."""

    def __init__(self) -> None:
        self.last_end_s: float | None = None
        self.period_s: float | None = None

    def times(self, frame: SensorFrame, n: int) -> FloatArray | None:
        """Sample times of a new frame, or None for a duplicate / out-of-order one."""
        assert frame.device_time_s is not None and frame.rate_hz
        end_s = frame.device_time_s
        nominal_s = 1.0 / frame.rate_hz
        last = self.last_end_s
        if last is not None and end_s <= last and end_s >= last - RESET_BACKSTEP_S:
            return None
        step_s = nominal_s
        if (
            last is not None
            and end_s > last
            and (end_s - last) - (n - 1) * nominal_s <= GAP_FACTOR * nominal_s
        ):
            step_s = (end_s - last) / n  # contiguous: honour the device's actual output rate
        self.last_end_s = end_s
        self.period_s = nominal_s
        return end_s - step_s * np.arange(n - 1, -1, -1, dtype=np.float64)


class AccGyrMerger:
    """A decoder yielding acc + gyr frames from a decoder that yields them separately (see module doc).

    ``hold_limit_s``: how far (device time) accelerometer samples may run ahead of the gyroscope before
    the oldest are given up as unpaired.
    """

    protocol: ClassVar[str] = "polar_pmd"

    def __init__(self, decoder: Decoder, *, hold_limit_s: float = 2.0) -> None:
        self.decoder = decoder
        self.hold_limit_s = hold_limit_s
        self.duplicates = 0
        self.out_of_order = 0
        self.unpaired_samples = 0
        self._acc = _Stream()
        self._gyr = _Stream()
        self._acc_t: FloatArray = _EMPTY
        self._acc_v: FloatArray = _EMPTY3
        self._acc_rate_hz = 0.0
        self._gyr_t: FloatArray = _EMPTY
        self._gyr_v: FloatArray = _EMPTY3

    def __getattr__(self, name: str) -> Any:  # the wrapped decoder's state (factors, stopped...)
        return getattr(self.decoder, name)

    def decode(self, payload: bytes, channel: int = 0) -> list[SensorFrame]:
        out: list[SensorFrame] = []
        for frame in self.decoder.decode(payload, channel):
            out.extend(self._add(frame))
        return out

    def reset(self) -> None:
        """After a reconnect: the next frames are not spread back to frames of the old connection."""
        self._acc.last_end_s = None
        self._gyr.last_end_s = None

    # ------------------------------------------------------------------------------------------ merging
    def _add(self, frame: SensorFrame) -> list[SensorFrame]:
        n = frame.n_samples
        if n == 0 or frame.device_time_s is None or not frame.rate_hz:
            return []
        is_acc = frame.acc is not None
        stream = self._acc if is_acc else self._gyr
        previous = stream.last_end_s
        times = stream.times(frame, n)
        if times is None:
            assert previous is not None
            if frame.device_time_s == previous:
                self.duplicates += 1
            else:
                self.out_of_order += 1
            return []
        if previous is not None and frame.device_time_s < previous:  # device clock reset: start afresh
            self.unpaired_samples += self._acc_t.size
            self._acc_t, self._acc_v, self._gyr_t, self._gyr_v = _EMPTY, _EMPTY3, _EMPTY, _EMPTY3
            (self._gyr if is_acc else self._acc).last_end_s = None
        if is_acc:
            assert frame.acc is not None
            self._acc_t = np.concatenate((self._acc_t, times))
            self._acc_v = np.concatenate((self._acc_v, frame.acc))
            self._acc_rate_hz = float(frame.rate_hz)
        else:
            assert frame.gyr is not None
            self._gyr_t = np.concatenate((self._gyr_t, times))
            self._gyr_v = np.concatenate((self._gyr_v, frame.gyr))
        return self._resolve()

    def _resolve(self) -> list[SensorFrame]:
        """Give pending accelerometer samples their angular rate where the gyroscope now covers them."""
        if self._acc_t.size == 0:
            return []
        acc_t, acc_v, gyr_t, gyr_v = self._acc_t, self._acc_v, self._gyr_t, self._gyr_v
        gyr_period_s = self._gyr.period_s or float("inf")
        edge_s = EDGE_PERIODS * gyr_period_s if np.isfinite(gyr_period_s) else 0.0
        newest_gyr = gyr_t[-1] if gyr_t.size else -np.inf
        ready = acc_t <= newest_gyr + edge_s
        stale = ~ready & (acc_t < acc_t[-1] - self.hold_limit_s)  # the gyroscope stalled behind
        decided = ready | stale
        n_decided = int(np.argmin(decided)) if not decided.all() else decided.size  # a prefix, in order
        t, v = acc_t[:n_decided], acc_v[:n_decided]
        ok = ready[:n_decided].copy()
        gyr = np.zeros((n_decided, 3))
        if gyr_t.size and ok.any():
            n = gyr_t.size
            j = np.searchsorted(gyr_t, t, side="left")  # the first gyroscope sample at or after t
            hi, lo = np.minimum(j, n - 1), np.maximum(j - 1, 0)
            span = gyr_t[hi] - gyr_t[lo]
            inside = (j > 0) & (j < n) & (span <= GAP_FACTOR * gyr_period_s)
            near_lo = (j > 0) & (t - gyr_t[lo] <= edge_s)
            near_hi = (j < n) & (gyr_t[hi] - t <= edge_s)
            ok &= inside | near_lo | near_hi
            w = ((t - gyr_t[lo]) / np.where(span > 0, span, 1.0))[:, None]
            take_hi = near_hi & (~near_lo | (gyr_t[hi] - t < t - gyr_t[lo]))
            nearest = np.where(take_hi[:, None], gyr_v[hi], gyr_v[lo])
            gyr = np.where(inside[:, None], gyr_v[lo] + w * (gyr_v[hi] - gyr_v[lo]), nearest)
        self.unpaired_samples += int(n_decided - ok.sum())
        self._acc_t, self._acc_v = acc_t[n_decided:], acc_v[n_decided:]
        keep_from = max(int(np.searchsorted(gyr_t, self._acc_t[0])) - 1 if self._acc_t.size else 0, 0)
        keep_from = min(keep_from, max(gyr_t.size - 1, 0))
        self._gyr_t, self._gyr_v = gyr_t[keep_from:], gyr_v[keep_from:]
        return self._runs(t[ok], v[ok], gyr[ok])

    def _runs(self, t: FloatArray, acc: FloatArray, gyr: FloatArray) -> list[SensorFrame]:
        """One frame per run of samples without a hole, so the clock never spreads samples over one."""
        if t.size == 0:
            return []
        rate = self._acc_rate_hz
        cuts = np.flatnonzero(np.diff(t) > GAP_FACTOR / rate) + 1
        bounds = [0, *cuts.tolist(), t.size]
        return [
            SensorFrame(acc=acc[a:b], gyr=gyr[a:b], device_time_s=float(t[b - 1]), seq=None, rate_hz=rate)
            for a, b in itertools.pairwise(bounds)
        ]
