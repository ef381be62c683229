"""The bounded history a streaming detector looks back into: low-passed signal and times by absolute index.

Samples go in as they arrive; the low-passed values come out :attr:`LinearPhaseLowPass.delay_samples`
later. The buffer keeps both aligned on absolute sample indices, so a detector can ask for "the filtered
signal over [i, j)" without caring how the stream was chunked, and drops what no pending decision needs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from imu.errors import InputError
from imu.gait.lowpass import LinearPhaseLowPass
from imu.samples import FloatArray


class SignalBuffer:
    """Times and low-passed channels of one signal, indexed by absolute sample index."""

    def __init__(self, cutoffs_hz: Sequence[float], rate_hz: float, filter_length_s: float) -> None:
        self._filter = LinearPhaseLowPass(cutoffs_hz, rate_hz, filter_length_s)
        self.delay_samples = self._filter.delay_samples
        self.start: int | None = None
        """Absolute index of the oldest kept sample (None before the first sample)."""
        self.origin: int | None = None
        """Absolute index of the stream's first sample."""
        self._t: FloatArray = np.empty(0)
        self._y: FloatArray = np.empty((0, len(cutoffs_hz)))
        self._received = 0
        self._last_x = 0.0

    @property
    def end(self) -> int:
        """Absolute index one past the newest *filtered* sample (``start`` before any output)."""
        return (self.start or 0) + self._y.shape[0]

    def push(self, t_s: FloatArray, x: FloatArray, start_index: int) -> None:
        """Append the next contiguous samples (times in s, the signal to filter)."""
        if t_s.shape[0] == 0:
            return
        if self.origin is None:
            self.origin = self.start = start_index
        elif start_index != self.origin + self._received:
            raise InputError(
                "blocks must be contiguous",
                expected=f"start_index {self.origin + self._received}",
                found=f"start_index {start_index}",
            )
        if self._t.shape[0] and t_s[0] <= self._t[-1]:
            raise InputError(
                "time must increase strictly across blocks", found=f"{t_s[0]!r} after {self._t[-1]!r}"
            )
        self._t = np.concatenate([self._t, t_s])
        self._append_filtered(self._filter.update(x))
        self._received += x.shape[0]
        self._last_x = float(x[-1])

    def finish(self) -> None:
        """End of stream: hold the last sample for the filter's delay so every sample gets its value."""
        if self.origin is not None:
            self._append_filtered(self._filter.update(np.full(self.delay_samples, self._last_x)))

    def _append_filtered(self, y: FloatArray) -> None:
        # The first ``delay_samples`` outputs belong to samples before the stream's start: drop them.
        assert self.origin is not None and self.start is not None
        produced_before = self._received
        skip = max(0, self.delay_samples - produced_before)
        self._y = np.concatenate([self._y, y[skip:]])

    def channel(self, c: int, lo: int, hi: int) -> FloatArray:
        """Filtered channel ``c`` over absolute indices ``[lo, hi)``, clipped to what is kept."""
        s = self.start or 0
        return self._y[max(lo, s) - s : max(hi, s) - s, c]

    def time_at(self, pos: float) -> float:
        """Time at a fractional absolute index, linearly interpolated between samples."""
        s = self.start or 0
        i = int(np.floor(pos))
        frac = pos - i
        j = min(max(i - s, 0), self._t.shape[0] - 1)
        if frac == 0.0 or j + 1 >= self._t.shape[0]:
            return float(self._t[j])
        return float(self._t[j] + frac * (self._t[j + 1] - self._t[j]))

    def trim(self, keep_from: int) -> None:
        """Forget samples before absolute index ``keep_from``."""
        if self.start is None or keep_from <= self.start:
            return
        drop = min(keep_from - self.start, self._y.shape[0])
        self._t = self._t[drop:]
        self._y = self._y[drop:]
        self.start += drop

    def local_maxima(self, c: int, lo: int, hi: int, half_window: int, min_value: float) -> list[int]:
        """Absolute indices p in [lo, hi) where channel ``c`` is ≥ ``min_value``, strictly above the
        ``half_window`` samples before and at least the ``half_window`` samples after (ties: the first).

        Only kept samples take part, so the windows are cut only at the stream's start and end.
        """
        if hi <= lo:
            return []
        w = half_window
        s = self.channel(c, lo - w, hi + w)
        first = max(lo - w, self.start or 0)
        pad_before = first - (lo - w)
        pad_after = max(0, (hi + w) - (first + s.shape[0]))
        padded = np.concatenate([np.full(pad_before, -np.inf), s, np.full(pad_after, -np.inf)])
        before = sliding_window_view(padded[:-1], w)[: hi - lo].max(axis=1)
        after = sliding_window_view(padded[w + 1 :], w)[: hi - lo].max(axis=1)
        centre = padded[w : w + hi - lo]
        ok = (centre > before) & (centre >= after) & (centre >= min_value)
        return [lo + int(i) for i in np.flatnonzero(ok)]
