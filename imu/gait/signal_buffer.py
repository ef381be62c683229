"""The bounded history a streaming detector looks back into: low-passed signals and times by absolute index.

Samples go in as they arrive; the low-passed values come out :attr:`LinearPhaseLowPass.delay_samples`
later. The buffer keeps both aligned on absolute sample indices, so a detector can ask for "the filtered
signal over [i, j)" (or many such windows at once) without caring how the stream was chunked, and drops
what no pending decision needs. With ``keep_raw`` it also keeps the unfiltered first input column, for
figures the low-pass would flatten (an impact transient of a few ms).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from imu.errors import InputError
from imu.gait.lowpass import LinearPhaseLowPass
from imu.samples import FloatArray

IntArray = NDArray[np.int64]


class SignalBuffer:
    """Times, low-passed channels and (optionally) the raw first input, indexed by absolute sample index.

    Channel ``j`` is cut-off ``cutoffs_hz[j]`` of input column ``inputs[j]`` (see
    :class:`LinearPhaseLowPass`).
    """

    def __init__(
        self,
        cutoffs_hz: Sequence[float],
        rate_hz: float,
        filter_length_s: float,
        inputs: Sequence[int] | None = None,
        *,
        keep_raw: bool = False,
    ) -> None:
        self._filter = LinearPhaseLowPass(cutoffs_hz, rate_hz, filter_length_s, inputs)
        self.delay_samples = self._filter.delay_samples
        self.start: int | None = None
        """Absolute index of the oldest kept sample (None before the first sample)."""
        self.origin: int | None = None
        """Absolute index of the stream's first sample."""
        self._t: FloatArray = np.empty(0)
        self._y: FloatArray = np.empty((0, len(cutoffs_hz)))
        self._keep_raw = keep_raw
        self._raw: FloatArray = np.empty(0)
        self._received = 0
        self._last_x: FloatArray = np.empty(0)

    @property
    def end(self) -> int:
        """Absolute index one past the newest *filtered* sample (``start`` before any output)."""
        return (self.start or 0) + self._y.shape[0]

    def push(self, t_s: FloatArray, x: FloatArray, start_index: int) -> None:
        """Append the next contiguous samples (times in s, the signal(s) to filter, (N,) or (N, k))."""
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
        if self._keep_raw:
            self._raw = np.concatenate([self._raw, x if x.ndim == 1 else x[:, 0]])
        self._append_filtered(self._filter.update(x))
        self._received += x.shape[0]
        self._last_x = x[-1:]

    def finish(self) -> None:
        """End of stream: hold the last sample for the filter's delay so every sample gets its value."""
        if self.origin is not None:
            held = np.repeat(self._last_x, self.delay_samples, axis=0)
            self._append_filtered(self._filter.update(held))

    def _append_filtered(self, y: FloatArray) -> None:
        # The first ``delay_samples`` outputs belong to samples before the stream's start: drop them.
        skip = max(0, self.delay_samples - self._received)
        self._y = np.concatenate([self._y, y[skip:]])

    def channel(self, c: int, lo: int, hi: int) -> FloatArray:
        """Filtered channel ``c`` over absolute indices ``[lo, hi)``, clipped to what is kept."""
        s = self.start or 0
        return self._y[max(lo, s) - s : max(hi, s) - s, c]

    def raw(self, lo: int, hi: int) -> FloatArray:
        """The unfiltered first input over absolute indices ``[lo, hi)``, clipped to what is kept."""
        s = self.start or 0
        return self._raw[max(lo, s) - s : max(hi, s) - s]

    def windows(self, first: IntArray, width: int, fill: float = np.nan) -> FloatArray:
        """(K, width, n_channels): every channel over ``[first[k], first[k] + width)``, ``fill`` where a
        window reaches beyond what is kept (before ``start``, at or after ``end``)."""
        return self._gather(self._y, first, width, fill)

    def raw_windows(self, first: IntArray, width: int, fill: float = np.nan) -> FloatArray:
        """(K, width): the raw input like :meth:`windows`; it reaches up to the newest sample received
        (``delay_samples`` beyond ``end``)."""
        return self._gather(self._raw, first, width, fill)

    def times_windows(self, first: IntArray, width: int) -> FloatArray:
        """(K, width): the sample times like :meth:`raw_windows` (NaN beyond what is kept)."""
        return self._gather(self._t, first, width, np.nan)

    def _gather(self, data: FloatArray, first: IntArray, width: int, fill: float) -> FloatArray:
        pad = np.full((width, *data.shape[1:]), fill)
        padded = np.concatenate([pad, data, pad])
        rel = np.minimum(np.maximum(first - (self.start or 0), -width), data.shape[0]) + width
        out: FloatArray = padded[rel[:, None] + np.arange(width)]
        return out

    def times_at(self, pos: FloatArray) -> FloatArray:
        """Times at fractional absolute indices, linearly interpolated between samples."""
        s = self.start or 0
        i = np.floor(pos)
        frac = pos - i
        j = np.minimum(np.maximum(i.astype(np.int64) - s, 0), self._t.shape[0] - 1)
        k = np.minimum(j + 1, self._t.shape[0] - 1)
        inner = (frac != 0.0) & (j + 1 < self._t.shape[0])
        out: FloatArray = np.where(inner, self._t[j] + frac * (self._t[k] - self._t[j]), self._t[j])
        return out

    def trim(self, keep_from: int) -> None:
        """Forget samples before absolute index ``keep_from``."""
        if self.start is None or keep_from <= self.start:
            return
        drop = min(keep_from - self.start, self._y.shape[0])
        self._t = self._t[drop:]
        self._y = self._y[drop:]
        if self._keep_raw:
            self._raw = self._raw[drop:]
        self.start += drop

    def local_maxima(self, c: int, lo: int, hi: int, half_window: int, min_value: float) -> IntArray:
        """Absolute indices p in [lo, hi) where channel ``c`` is ≥ ``min_value``, strictly above the
        ``half_window`` samples before and at least the ``half_window`` samples after (ties: the first).

        Only kept samples take part, so the windows are cut only at the stream's start and end.
        """
        if hi <= lo:
            return np.empty(0, np.int64)
        w = half_window
        s = self.channel(c, lo - w, hi + w)
        first = max(lo - w, self.start or 0)
        pad_before = first - (lo - w)
        pad_after = max(0, (hi + w) - (first + s.shape[0]))
        padded = s
        if pad_before or pad_after:
            padded = np.concatenate([np.full(pad_before, -np.inf), s, np.full(pad_after, -np.inf)])
        # running maximum of the w samples starting at each index (comparisons only: exact)
        run_max = _running_max(padded, w)
        before = run_max[: hi - lo]
        after = run_max[w + 1 : w + 1 + hi - lo]
        centre = padded[w : w + hi - lo]
        ok = (centre > before) & (centre >= after) & (centre >= min_value)
        return lo + np.flatnonzero(ok)


def _running_max(x: FloatArray, w: int) -> FloatArray:
    """``out[k] = max(x[k : k + w])`` for k in [0, len(x) - w], by doubling: after a pass, ``m[k]`` is the
    maximum of ``span`` samples from k, and the maximum of two overlapping spans covers any w between
    ``span`` and ``2 · span``. About log2(w) + 1 contiguous passes (5 for w = 31, the running detector's),
    ~9× cheaper than a prefix/suffix scheme whose accumulations run along short rows. Comparisons only, so
    exact, and NaN spreads exactly to the windows that hold it."""
    m, span = x, 1
    while 2 * span <= w:
        m = np.maximum(m[:-span], m[span:])
        span *= 2
    if span < w:
        m = np.maximum(m[: m.shape[0] - (w - span)], m[w - span :])
    return m
