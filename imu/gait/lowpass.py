"""A linear-phase FIR low-pass run causally over a stream: a fixed delay instead of a zero-phase pass.

A symmetric FIR of odd length ``M`` delays every frequency by exactly ``(M - 1) / 2`` samples, so the
output that arrives with input sample ``n`` is the zero-phase-filtered value of sample ``n - delay``. The
gait detectors use it where a causal IIR would bias event times (the phase lag of a causal Butterworth
varies with frequency, so it moves a sharp toe-off differently than a slow stance peak).

Bit-identical for any chunking, and fast: the convolution runs in exact integer arithmetic.
Floating-point sums depend on their order, and every fast convolution (a BLAS matrix product, an FFT,
``lfilter`` with carried ``zi``, which for an FIR is ``np.convolve`` plus the carried partial sums) orders
them differently for different block lengths. So inputs are rounded to multiples of
:data:`INPUT_QUANTUM` (clipped at ±:data:`INPUT_LIMIT`) and taps to multiples of ``2**-TAP_BITS``; every
product and partial sum is then a multiple of ``2**-(INPUT_BITS + TAP_BITS)`` = 2**-40 below 2**12 in
magnitude (inputs ≤ 2**11, tap magnitudes summing to ≤ 2), an integer below 2**52 times a power of two,
which float64 holds exactly, so *any* summation order gives the same exact result. That frees the sum to
run as one matrix product per block (the input cut into rows of :data:`BLOCK` outputs against a banded
Toeplitz matrix of the taps; one product for all the cut-offs of one input column), ≈ 25× faster than
accumulating tap by tap. The rounding is far below any accelerometer's resolution (7.6e-6 of the signal's
unit; taps to 1.2e-7) and the limit far above its range (±2048 g, or ±2048 m/s² ≈ 209 g).

A non-finite input makes the outputs whose window holds it NaN, as the plain convolution would. The
stream's first sample stands in for the inputs before it, so the start has no artificial step.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from imu.errors import InputError
from imu.samples import FloatArray

INPUT_BITS = 17
INPUT_QUANTUM = 2.0**-INPUT_BITS
"""Inputs are rounded to multiples of this (in the signal's own unit, g or m/s²)."""
INPUT_LIMIT = 2048.0
"""Inputs are clipped to ± this (2**11, so a rounded input is an integer of at most 2**28)."""
TAP_BITS = 23
"""Taps are rounded to multiples of 2**-TAP_BITS; the sum of their magnitudes must stay ≤ 2**24."""
BLOCK = 32
"""Outputs per row of the matrix product (small rows keep the banded matrix's zeros cheap)."""
_ROUNDER = 1.5 * 2.0 ** (52 - INPUT_BITS)
"""Adding this to a value of magnitude ≤ INPUT_LIMIT leaves a float whose last bit is INPUT_QUANTUM: the
sum is the value rounded to a multiple of INPUT_QUANTUM (ties to even), and subtracting it again is exact."""


def windowed_sinc(length: int, cutoff: float) -> FloatArray:
    """Low-pass taps by the window method: the ideal low-pass's impulse response ``fc · sinc(fc · n)``
    (cut-off ``fc`` in units of the Nyquist frequency, ``n`` samples from the centre) cut to ``length``
    samples, tapered by a Hamming window and scaled to unit gain at 0 Hz (Oppenheim & Schafer,
    *Discrete-Time Signal Processing*, 3rd ed., §7.5; the design scipy.signal.firwin makes by default,
    written here in numpy so that the stage does not import scipy.signal, ~0.6 s at start-up)."""
    n = np.arange(length) - (length - 1) / 2
    h: FloatArray = cutoff * np.sinc(cutoff * n) * np.hamming(length)
    return h / h.sum()


class LinearPhaseLowPass:
    """Several low-pass cut-offs of one or more signals, all with the same length and so the same delay.

    Output channel ``j`` is cut-off ``cutoffs_hz[j]`` applied to input column ``inputs[j]`` (all column 0
    by default).
    """

    def __init__(
        self,
        cutoffs_hz: Sequence[float],
        rate_hz: float,
        length_s: float,
        inputs: Sequence[int] | None = None,
    ) -> None:
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
        self.inputs: tuple[int, ...] = tuple(inputs) if inputs is not None else (0,) * len(cutoffs_hz)
        if len(self.inputs) != len(cutoffs_hz):
            raise InputError("one input column per cut-off", expected=str(len(cutoffs_hz)), found=str(inputs))
        length = max(3, round(length_s * rate_hz) | 1)
        taps = np.stack([windowed_sinc(length, c / nyquist_hz) for c in cutoffs_hz], axis=1)
        self.taps: FloatArray = np.rint(taps * 2.0**TAP_BITS)
        """The taps as integers (multiples of 2**-TAP_BITS), (M, n_cutoffs)."""
        assert np.abs(self.taps).sum(axis=0).max() <= 2.0**24, "taps too large for exact sums"
        self.delay_samples: int = (length - 1) // 2
        self._n_inputs = max(self.inputs) + 1
        # per input column: the output channels it feeds and their banded matrix, taps scaled by
        # 2**-TAP_BITS (a power of two, so the same exact products, only without a final rescaling)
        self._groups = []
        for col in range(self._n_inputs):
            channels = [j for j, c in enumerate(self.inputs) if c == col]
            if channels:
                band = self._banded(self.taps[::-1, channels] * 2.0**-TAP_BITS)
                self._groups.append((col, channels, band))
        self._history: FloatArray | None = None

    @staticmethod
    def _banded(reversed_taps: FloatArray) -> FloatArray:
        """(BLOCK + M - 1, BLOCK · n): column ``i·n + j`` holds channel j's reversed taps from row i, so a
        row of outputs comes out sample-major, as the caller wants them (no transpose)."""
        m, n = reversed_taps.shape
        band = np.zeros((BLOCK + m - 1, BLOCK, n))
        for i in range(BLOCK):
            band[i : i + m, i, :] = reversed_taps
        return band.reshape(BLOCK + m - 1, BLOCK * n)

    def update(self, x: FloatArray) -> FloatArray:
        """Filter the next inputs, (N,) or (N, n_inputs); returns (N, n_cutoffs), delayed by
        ``delay_samples``."""
        x = np.asarray(x, dtype=np.float64)
        x = x[:, None] if x.ndim == 1 else x
        if x.ndim != 2 or x.shape[1] < self._n_inputs:
            raise InputError(
                "the low-pass needs one input column per input it filters",
                expected=f"shape (N, ≥ {self._n_inputs})",
                found=f"shape {x.shape}",
            )
        n = x.shape[0]
        keep = self.taps.shape[0] - 1
        n_out = self.taps.shape[1]
        if n == 0:
            return np.empty((0, n_out))
        blocks = -(-n // BLOCK)
        k = self._n_inputs
        # the kept history, the new inputs, zeros to whole blocks
        ext = np.empty((blocks * BLOCK + keep, k))
        q = ext[keep : keep + n]
        np.clip(x[:, :k], -INPUT_LIMIT, INPUT_LIMIT, out=q)
        q += _ROUNDER  # rounds to a multiple of INPUT_QUANTUM (ties to even, as np.rint) ...
        q -= _ROUNDER  # ... and back, exactly
        ext[keep + n :] = 0.0
        if self._history is None:
            self._history = np.repeat(q[:1], keep, axis=0)
        ext[:keep] = self._history
        self._history = ext[n : n + keep].copy()
        # clipping made ±inf finite: only NaN is left to find, and one sum finds it
        bad = None
        if np.isnan(ext.sum()):
            bad = np.isnan(ext[: n + keep])
            ext[: n + keep][bad] = 0.0
        outs = []
        for col, channels, band in self._groups:
            rows = np.ndarray((blocks, band.shape[0]), np.float64, ext, col * 8, (BLOCK * k * 8, k * 8))
            out: FloatArray = (rows.copy() @ band).reshape(blocks * BLOCK, len(channels))[:n]
            if bad is not None and bad[:, col].any():
                hit = np.concatenate([[0], np.cumsum(bad[:, col])])
                out[hit[keep + 1 :] > hit[:n]] = np.nan
            outs.append(out)
        if len(outs) == 1:  # one input column feeds every channel, in order
            return outs[0]
        y = np.empty((n, n_out))
        for (_, channels, _), out in zip(self._groups, outs, strict=True):
            y[:, channels] = out
        return y
