"""Walking initial contacts from a lower-back (L5) sensor's vertical acceleration, streaming.

Physics used: in walking the trunk's vertical acceleration peaks once per step, shortly after the
leading heel strikes, when the body's downward velocity is arrested (the double-support weight
acceptance). There is no flight phase, so the running rules (humps between ≈ 0 g floors) do not apply.

Method: a linear-phase FIR low-pass at ``smooth_hz`` (fixed delay ``filter_length_s / 2``) of the
vertical acceleration in g; every sample that is the largest within ± ``peak_window_s`` and at least
``min_peak_g`` is a step; IC = that peak's time minus ``ic_lag_s`` (the peak trails heel strike by about
40 ms at L5; tuned on voisard2023 subjects 1–5 only). Toe-off is not given (``to_index`` = -1, NaN
figures): at L5 it leaves no cue this simple rule can time. Nor is ``impact_g`` (NaN): a 3 Hz peak is no
impact.

Look-ahead: a step is committed once ``peak_window_s`` of filtered signal follows its peak, i.e.
``peak_window_s + filter_length_s / 2`` of input after the peak (0.4 s with the defaults).
"""

from __future__ import annotations

from dataclasses import dataclass

from imu.constants import STANDARD_GRAVITY_MS2
from imu.gait.body_block import BodyBlock, V
from imu.gait.contact_table import NO_INDEX, ContactTable
from imu.gait.signal_buffer import SignalBuffer


@dataclass(frozen=True)
class WalkingContactSettings:
    """Rule parameters; defaults in physical units (see the module docstring)."""

    smooth_hz: float = 2.0
    filter_length_s: float = 0.3
    peak_window_s: float = 0.25
    min_peak_g: float = 1.05
    ic_lag_s: float = 0.04
    max_step_s: float = 1.0
    """Steps longer than this break the chain: step time and cadence of the next contact are NaN."""


class WalkingContacts:
    """Streaming walking-IC detector: ``update(BodyBlock) -> ContactTable``, then ``flush()``."""

    def __init__(self, rate_hz: float, settings: WalkingContactSettings | None = None) -> None:
        self.settings = settings or WalkingContactSettings()
        st = self.settings
        self.rate_hz = float(rate_hz)
        self._buf = SignalBuffer((st.smooth_hz,), rate_hz, st.filter_length_s)
        self._w = max(1, round(st.peak_window_s * rate_hz))
        self._next_anchor: int | None = None
        self._prev_ic_t_s: float | None = None

    @property
    def look_ahead_s(self) -> float:
        """Input needed after a step's peak before the step is committed."""
        return (self._w + self._buf.delay_samples) / self.rate_hz

    def update(self, block: BodyBlock) -> ContactTable:
        self._buf.push(block.t_s, block.acc[:, V] / STANDARD_GRAVITY_MS2, block.start_index)
        return self._commit(final=False)

    def flush(self) -> ContactTable:
        self._buf.finish()
        return self._commit(final=True)

    def _commit(self, *, final: bool) -> ContactTable:
        buf = self._buf
        if buf.origin is None:
            return ContactTable.empty()
        lo = buf.origin if self._next_anchor is None else self._next_anchor
        hi = buf.end if final else buf.end - self._w
        st = self.settings
        lag = st.ic_lag_s * self.rate_hz
        rows = []
        for p in buf.local_maxima(0, lo, hi, self._w, st.min_peak_g):
            peak_t = buf.time_at(p)
            ic_t = peak_t - st.ic_lag_s
            step = float("nan")
            if self._prev_ic_t_s is not None and ic_t - self._prev_ic_t_s <= st.max_step_s:
                step = ic_t - self._prev_ic_t_s
            self._prev_ic_t_s = ic_t
            nan = float("nan")
            rows.append(
                {
                    "ic_index": float(max(buf.origin, round(p - lag))),
                    "ic_t_s": ic_t,
                    "to_index": float(NO_INDEX),
                    "to_t_s": nan,
                    "contact_time_s": nan,
                    "flight_time_s": nan,
                    "step_time_s": step,
                    "cadence_spm": 60.0 / step,
                    "impact_g": nan,
                    "loading_rate_g_s": nan,
                }
            )
        self._next_anchor = max(lo, hi)
        buf.trim(self._next_anchor - self._w - 1)
        return ContactTable.from_rows(rows)
