"""Running contacts (initial contact, toe-off) from a lower-back sensor's vertical acceleration, streaming.

Physics used: in running the trunk is nearly in free fall during flight (vertical acceleration ≈ 0 g)
and carries the body's weight and more during stance (1.5–4 g, with an impact transient in the first
tens of ms). A step is therefore a hump of vertical acceleration between two flight floors. Every rule
is relative to that step's own hump (its floors and its peak), not an absolute level, because absolute
thresholds shift event times with speed and slope (FINDINGS.md: −15 to +13 ms).

Method (all on the vertical acceleration in g, including gravity):

1. Three linear-phase FIR low-passes of ``filter_length_s`` (so a fixed delay of half that):
   ``lowpass_hz`` (the IC and impact signal ``x``; works the same on raw 100–1000 Hz data and on
   pre-filtered data), ``smooth_hz`` (the stance signal ``s``, one hump per contact) and
   ``to_lowpass_hz`` (the toe-off signal: the late-stance fall carries pelvis wobble that a lower
   cut-off removes; on the tuning trials 10 Hz halved the p95 toe-off error of 20 Hz).
2. Stance anchor ``p``: ``s[p]`` is the largest value within ± ``peak_window_s`` and at least
   ``min_stance_g``.
3. Flight floors: the minimum of ``x`` within ``search_s`` before ``p`` (and after the previous toe-off)
   and within ``search_s`` after ``p``. A hump whose floors are not both below ``max_flight_g`` is no
   running step (walking never leaves the ground) and is skipped.
4. IC: the last upward crossing, before ``p``, of ``floor_before + ic_fraction · (peak − floor_before)``.
5. TO: on the toe-off signal, the last downward crossing, before the floor after ``p``, of
   ``floor_after + to_fraction · (peak − floor_after)``, plus ``to_lag_s``: the trunk's vertical
   acceleration falls ahead of the force (the pelvis rotates over the stance leg late in stance), so a
   level crossing earlier on the steep fall, shifted by a fixed lag, times TO more tightly than a
   crossing near the floor where the fall flattens (tuned on the alcantara2022 even trials only).
   Second cue, the start of flight: the first time after ``p`` that ``x`` falls below ``flight_level_g``
   (the trunk becomes weightless only once both feet are off), plus ``flight_lag_s``. When the step
   has such a flight, TO is the mean of the two cues: their errors depend differently on slope and
   speed, so the mean cut the tuning half's p95 TO error from 20 to 15 ms. Without one (a raw sensor's
   floor may stay above the level), TO is the level crossing alone. The AP propulsion peak and its fall
   were tried too and timed TO worse on the tuning half (p95 > 25 ms on this biaxial, slope-tilted sensor).

Look-ahead: a contact is committed once the filtered signal reaches ``search_s`` beyond its stance
anchor, i.e. ``search_s + filter_length_s / 2`` of input after the anchor (0.35 s with the defaults;
the anchor is mid-stance, so TO figures are final about 0.25–0.3 s after TO).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imu.constants import STANDARD_GRAVITY_MS2
from imu.gait.body_block import BodyBlock, V
from imu.gait.contact_table import ContactTable
from imu.gait.signal_buffer import SignalBuffer
from imu.samples import FloatArray

X, S, T = 0, 1, 2
"""Channels of the signal buffer: the IC/impact signal, the stance signal and the toe-off signal."""


@dataclass(frozen=True)
class RunningContactSettings:
    """Rule parameters; defaults in physical units (see the module docstring for each rule)."""

    lowpass_hz: float = 20.0
    smooth_hz: float = 5.0
    to_lowpass_hz: float = 10.0
    filter_length_s: float = 0.2
    peak_window_s: float = 0.15
    search_s: float = 0.25
    min_stance_g: float = 1.2
    max_flight_g: float = 0.6
    ic_fraction: float = 0.1
    to_fraction: float = 0.4
    to_lag_s: float = 0.04
    flight_level_g: float = 0.05
    flight_lag_s: float = -0.02
    max_step_s: float = 0.6
    """Steps longer than this break the chain: flight and step time of the next contact are NaN."""


def _last_crossing(seg: FloatArray, level: float, rising: bool) -> float | None:
    """Fractional position of the last crossing of ``level`` in ``seg`` (None if none)."""
    above = seg >= level
    edges = np.flatnonzero(above[1:] & ~above[:-1]) if rising else np.flatnonzero(~above[1:] & above[:-1])
    if edges.shape[0] == 0:
        return None
    k = int(edges[-1])
    return k + (level - seg[k]) / (seg[k + 1] - seg[k])


def _first_crossing(seg: FloatArray, level: float, rising: bool) -> float | None:
    """Fractional position of the first crossing of ``level`` in ``seg`` (None if none)."""
    above = seg >= level
    edges = np.flatnonzero(above[1:] & ~above[:-1]) if rising else np.flatnonzero(~above[1:] & above[:-1])
    if edges.shape[0] == 0:
        return None
    k = int(edges[0])
    return k + (level - seg[k]) / (seg[k + 1] - seg[k])


class RunningContacts:
    """Streaming running-contact detector: ``update(BodyBlock) -> ContactTable``, then ``flush()``."""

    def __init__(self, rate_hz: float, settings: RunningContactSettings | None = None) -> None:
        self.settings = settings or RunningContactSettings()
        st = self.settings
        self.rate_hz = float(rate_hz)
        self._buf = SignalBuffer((st.lowpass_hz, st.smooth_hz, st.to_lowpass_hz), rate_hz, st.filter_length_s)
        self._w = max(1, round(st.peak_window_s * rate_hz))
        self._search = max(2, round(st.search_s * rate_hz))
        self._next_anchor: int | None = None
        self._prev: tuple[float, float, float] | None = None  # (ic_t_s, to_t_s, to_pos) of the last contact

    @property
    def look_ahead_s(self) -> float:
        """Input needed after a stance anchor before its contact is committed."""
        return self._search / self.rate_hz + self._buf.delay_samples / self.rate_hz

    def update(self, block: BodyBlock) -> ContactTable:
        self._buf.push(block.t_s, block.acc[:, V] / STANDARD_GRAVITY_MS2, block.start_index)
        return self._commit(final=False)

    def flush(self) -> ContactTable:
        self._buf.finish()
        return self._commit(final=True)

    # ------------------------------------------------------------------ detection
    def _commit(self, *, final: bool) -> ContactTable:
        buf = self._buf
        if buf.origin is None:
            return ContactTable.empty()
        if self._next_anchor is None:
            self._next_anchor = buf.origin
        rows = []
        # An anchor is decidable once its ± peak window is in; measurable once its search span is in.
        need = self._w if final else self._search
        end = buf.end
        lo = self._next_anchor
        hi = end if final else end - need
        for p in buf.local_maxima(S, lo, hi, self._w, self.settings.min_stance_g):
            row = self._measure(p, end)
            if row is not None:
                rows.append(row)
            self._next_anchor = p + 1
        if hi > self._next_anchor:
            self._next_anchor = hi
        buf.trim(self._next_anchor - self._search - self._w - 2)
        return ContactTable.from_rows(rows)

    def _measure(self, p: int, end: int) -> dict[str, float] | None:
        st = self.settings
        buf = self._buf
        n = self._search
        lo = p - n
        if self._prev is not None:
            lo = max(lo, int(np.ceil(self._prev[2])))
        lo = max(lo, buf.start or 0)
        before = buf.channel(X, lo, p + 1)
        after = buf.channel(X, p, min(p + n + 1, end))
        if before.shape[0] < 2 or after.shape[0] < 2:
            return None
        i0 = int(np.argmin(before))
        i1 = int(np.argmin(after))
        floor0, floor1 = float(before[i0]), float(after[i1])
        if max(floor0, floor1) > st.max_flight_g:
            return None
        hump = np.concatenate([before[i0:], after[1 : i1 + 1]])
        peak = float(hump.max())
        ic_rel = _last_crossing(before[i0:], floor0 + st.ic_fraction * (peak - floor0), rising=True)
        fall = buf.channel(T, p, p + i1 + 1)
        to_peak = float(buf.channel(T, lo + i0, p + 1).max())
        to_rel = _last_crossing(
            fall, float(fall.min()) + st.to_fraction * (to_peak - float(fall.min())), rising=False
        )
        if ic_rel is None or to_rel is None:
            return None
        ic_pos = lo + i0 + ic_rel
        to_cross = p + to_rel
        to_pos = to_cross + st.to_lag_s * self.rate_hz
        to_t = buf.time_at(to_cross) + st.to_lag_s
        flight_rel = _first_crossing(after[: i1 + 1], st.flight_level_g, rising=False)
        if flight_rel is not None:
            flight_pos = p + flight_rel + st.flight_lag_s * self.rate_hz
            to_pos = (to_pos + flight_pos) / 2
            to_t = (to_t + buf.time_at(p + flight_rel) + st.flight_lag_s) / 2
        ic_t = buf.time_at(ic_pos)
        stance = hump[int(np.ceil(ic_pos)) - (lo + i0) : int(np.floor(to_pos)) - (lo + i0) + 1]
        impact = float(stance.max()) if stance.shape[0] else peak
        step = flight = float("nan")
        if self._prev is not None and ic_t - self._prev[0] <= st.max_step_s:
            step = ic_t - self._prev[0]
            flight = ic_t - self._prev[1]
        self._prev = (ic_t, to_t, to_pos)
        return {
            "ic_index": float(round(ic_pos)),
            "ic_t_s": ic_t,
            "to_index": float(round(to_pos)),
            "to_t_s": to_t,
            "contact_time_s": to_t - ic_t,
            "flight_time_s": flight,
            "step_time_s": step,
            "cadence_spm": 60.0 / step,
            "impact_g": impact,
            "loading_rate_g_s": self._loading_rate(hump[int(np.ceil(ic_rel)) :], floor0),
        }

    def _loading_rate(self, rise: FloatArray, floor: float) -> float:
        """Mean slope 20 % → 80 % from the floor to the first peak after IC, g/s."""
        if rise.shape[0] < 3:
            return float("nan")
        falls = np.flatnonzero(np.diff(rise) < 0)
        k = int(falls[0]) + 1 if falls.shape[0] else rise.shape[0]
        first_peak = float(rise[:k].max())
        seg = np.concatenate([[floor], rise[:k]])
        lo_level = floor + 0.2 * (first_peak - floor)
        hi_level = floor + 0.8 * (first_peak - floor)
        a = _last_crossing(seg, lo_level, rising=True)
        b = _last_crossing(seg, hi_level, rising=True)
        if a is None or b is None or b <= a:
            return float("nan")
        return (hi_level - lo_level) / ((b - a) / self.rate_hz)
