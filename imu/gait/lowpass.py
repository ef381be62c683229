"""A linear-phase FIR low-pass run causally over a stream: a fixed delay instead of a zero-phase pass.

A symmetric FIR of odd length ``M`` delays every frequency by exactly ``(M - 1) / 2`` samples, so the
output that arrives with input sample ``n`` is the zero-phase-filtered value of sample ``n - delay``. The
gait detectors use it where a causal IIR would bias event times (the phase lag of a causal Butterworth
varies with frequency, so it moves a sharp toe-off differently than a slow stance peak).

The convolution is accumulated tap by tap in a fixed order over a carried history of ``M - 1`` inputs, so
the output is bit-identical for any chunking of the input (a BLAS dot product could change its summation
order with the block length). The stream's first sample stands in for the inputs before it, so the start
has no artificial step.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.signal import firwin

from imu.errors import InputError
from imu.samples import FloatArray


class LinearPhaseLowPass:
    """Several low-pass cut-offs of one signal, all with the same length and so the same delay."""

    def __init__(self, cutoffs_hz: Sequence[float], rate_hz: float, length_s: float) -> None:
        if not np.isfinite(rate_hz) or rate_hz <= 0:
            raise InputError("sampling rate must be positive", expected="rate_hz > 0", found=f"{rate_hz!r}")
        nyquist_hz = rate_hz / 2
        bad = [c for c in cutoffs_hz if not 0 < c < nyquist_hz]
        if bad:
            raise InputError(
                "low-pass cut-off must lie below the Nyquist frequency",
                expected=f"0 < cut-off < {nyquist_hz:g} Hz",
                found=f"{bad[0]:g} Hz",
            )
        length = max(3, round(length_s * rate_hz) | 1)
        self.taps: FloatArray = np.stack([firwin(length, c, fs=rate_hz) for c in cutoffs_hz], axis=1)
        self.delay_samples: int = (length - 1) // 2
        self._history: FloatArray | None = None

    def update(self, x: FloatArray) -> FloatArray:
        """Filter the next inputs (N,); returns (N, n_cutoffs), row j delayed by ``delay_samples``."""
        n = x.shape[0]
        length = self.taps.shape[0]
        if n == 0:
            return np.empty((0, self.taps.shape[1]))
        if self._history is None:
            self._history = np.full(length - 1, x[0])
        ext = np.concatenate([self._history, x])
        y = np.zeros((n, self.taps.shape[1]))
        for k in range(length):
            start = length - 1 - k
            y += ext[start : start + n, None] * self.taps[k]
        self._history = ext[n:]
        return y
