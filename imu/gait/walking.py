"""Walking initial contacts from a lower-back (L5) sensor in the body frame, streaming.

Physics used
============
At heel strike the leading leg takes over the body's weight while the body still moves forward, so the
ground reaction force on the new stance leg points *up and backwards*. Seen from L5:

- the forward (AP) acceleration peaks at about heel strike and then falls steeply into the braking trough
  of weight acceptance (Zijlstra & Hof 2003, Gait & Posture 18(2):1–10: initial contact at the forward
  acceleration peak of a lower-trunk sensor);
- the vertical acceleration rises steeply and peaks tens of ms after heel strike (the downward velocity is
  arrested; McCamley et al. 2012, Gait & Posture 36(2):316–318, time initial contact from the vertical
  acceleration).

The trunk also shows a second vertical peak later in stance, and a vertical-only detector lands on it in
about one step in ten (FINDINGS.md). The combination ``acc_v − acc_ap`` (up-and-back, the direction of
that reaction force) has one clear hump per step, which makes a steadier step anchor than either axis.

Method (``acc_ap``, ``acc_v`` in m/s² from :class:`imu.gait.frame.BodyFrameStage`)
===================================================================================
All filters are linear-phase FIR low-passes of the same length ``filter_length_s`` (one fixed delay).

1. Step anchor ``p``: ``s = lowpass(acc_v − acc_ap, anchor_hz)`` is the largest within
   ± ``anchor_window_s`` and has risen by at least ``min_rise_ms2`` over the ``rise_s`` before it (standing
   sway makes tiny humps; the tuning walks' smallest steps rise by more than 0.3 m/s²).
2. Step periodicity: an anchor closer than ``min_step_fraction`` × the expected step time to the previous
   anchor is a double hump of the same step and is dropped. The expected step time is the median of the
   last ``step_history`` anchor intervals, capped at ``max_expected_step_s`` (so a stretch of standing
   cannot make the rule swallow every other real step).
3. Initial contact: the mean of three cues, each searched in the ``search_back_s`` before the anchor and
   shifted by its own lag (tuned on voisard2023 subjects 1–5 only): the forward acceleration peak
   (``forward_peak_hz``), the steepest fall of the forward acceleration, i.e. the braking onset
   (``braking_hz``), and the vertical acceleration peak (``vertical_peak_hz``). Their errors are partly
   independent: on the tuning half the mean cut the share of ICs off by > 100 ms from 1.8 % (forward peak
   alone) to 0.9 %.

Toe-off is not given (``to_index`` = -1, NaN figures) and neither is ``impact_g``: at L5 in walking they
leave no cue this rule can time. The gyroscope is not used (no cue tried on the tuning half beat the
acceleration cues above within the time given; see the benchmark results).

Gaps: every time comes from the samples' own time stamps (a cue at the sample after a lost packet is timed
at that sample's real time; the braking slope divides by the real interval). The FIR filters see the
samples as they arrive; a single lost sample at 100 Hz shifts ≤ 1 of ``filter_length_s × rate`` taps, a
bounded, local effect. Long gaps end the activity bout (:mod:`imu.gait.bouts`), which is where steps are
read.

Look-ahead: an anchor is decided once ``anchor_window_s`` of filtered signal follows it; the cues only look
back. So a step is committed ``anchor_window_s + filter_length_s / 2`` of input after its anchor (0.45 s
with the defaults at 100 Hz; the anchor lies 50–170 ms after the IC).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from numpy.typing import NDArray

from imu.gait.body_block import AP, BodyBlock, V
from imu.gait.contact_table import NO_INDEX, ContactTable
from imu.gait.signal_buffer import IntArray, SignalBuffer

ANCHOR, FORWARD_PEAK, BRAKING, VERTICAL_PEAK = 0, 1, 2, 3
"""Channels of the signal buffer (inputs: ``acc_v − acc_ap``, ``acc_ap``, ``acc_v``)."""


@dataclass(frozen=True)
class WalkingContactSettings:
    """Rule parameters; defaults in physical units (see the module docstring for each rule)."""

    filter_length_s: float = 0.6
    anchor_hz: float = 2.5
    anchor_window_s: float = 0.15
    min_rise_ms2: float = 0.3
    rise_s: float = 0.3
    min_step_fraction: float = 0.6
    max_expected_step_s: float = 0.7
    step_history: int = 4
    search_back_s: float = 0.2
    forward_peak_hz: float = 15.0
    braking_hz: float = 10.0
    vertical_peak_hz: float = 10.0
    forward_peak_lag_s: float = 0.01
    braking_lag_s: float = -0.03
    vertical_peak_lag_s: float = -0.04
    max_step_s: float = 1.0
    """Steps longer than this break the chain: step time and cadence of the next contact are NaN."""


class WalkingContacts:
    """Streaming walking-IC detector: ``update(BodyBlock) -> ContactTable``, then ``flush()``."""

    def __init__(self, rate_hz: float, settings: WalkingContactSettings | None = None) -> None:
        self.settings = st = settings or WalkingContactSettings()
        self.rate_hz = float(rate_hz)
        self._buf = SignalBuffer(
            (st.anchor_hz, st.forward_peak_hz, st.braking_hz, st.vertical_peak_hz),
            rate_hz,
            st.filter_length_s,
            inputs=(0, 1, 1, 2),
        )
        self._w = max(1, round(st.anchor_window_s * rate_hz))
        self._rise = max(1, round(st.rise_s * rate_hz))
        self._back = max(1, round(st.search_back_s * rate_hz))
        self._next_anchor: int | None = None
        self._anchors_t_s: deque[float] = deque(maxlen=st.step_history + 1)
        self._prev_ic_t_s: float | None = None

    @property
    def look_ahead_s(self) -> float:
        """Input needed after a step's anchor before the step is committed."""
        return (self._w + self._buf.delay_samples) / self.rate_hz

    @property
    def ic_reach_samples(self) -> int:
        """Once the input holds sample ``i + ic_reach_samples - 1``, every contact whose IC is at or before
        ``i`` has been emitted: an IC lies at most ``search_back_s`` (plus the cues' mean lag, when it is
        negative) before its anchor, and an anchor is committed :attr:`look_ahead_s` of input after it
        (read-only; for consumers that merge contacts)."""
        st = self.settings
        lag = (st.forward_peak_lag_s + st.braking_lag_s + st.vertical_peak_lag_s) / 3 * self.rate_hz
        return self._back + int(np.ceil(max(-lag, 0.0))) + self._w + self._buf.delay_samples + 1

    def update(self, block: BodyBlock) -> ContactTable:
        v, ap = block.acc[:, V], block.acc[:, AP]
        self._buf.push(block.t_s, np.column_stack([v - ap, ap, v]), block.start_index)
        return self._commit(final=False)

    def flush(self) -> ContactTable:
        self._buf.finish()
        return self._commit(final=True)

    # ------------------------------------------------------------------ detection
    def _commit(self, *, final: bool) -> ContactTable:
        buf = self._buf
        if buf.origin is None:
            return ContactTable.empty()
        lo = buf.origin if self._next_anchor is None else self._next_anchor
        hi = buf.end if final else buf.end - self._w
        anchors = buf.local_maxima(ANCHOR, lo, hi, self._w, -np.inf)
        table = ContactTable.empty()
        if anchors.shape[0]:
            steps = anchors[self._is_step(anchors)]
            if steps.shape[0]:
                table = self._measure(steps)
        self._next_anchor = max(lo, hi)
        buf.trim(self._next_anchor - max(self._w, self._rise, self._back) - 2)
        return table

    def _is_step(self, anchors: IntArray) -> NDArray[np.bool_]:
        """Rise and periodicity rules; an accepted anchor joins the step history (in order)."""
        st = self.settings
        buf = self._buf
        s = buf.windows(anchors - self._rise, self._rise + 1, fill=np.inf)[:, :, ANCHOR]
        rises = (s[:, -1] - s.min(axis=1) >= st.min_rise_ms2).tolist()
        times = buf.times_at(anchors.astype(np.float64)).tolist()
        accepted = []
        history = self._anchors_t_s
        for rises_enough, t in zip(rises, times, strict=True):
            ok = rises_enough
            if ok and len(history) >= 2:
                ts = list(history)
                gaps = sorted(b - a for a, b in pairwise(ts))
                mid = len(gaps) // 2
                median = gaps[mid] if len(gaps) % 2 else (gaps[mid - 1] + gaps[mid]) / 2
                ok = t - ts[-1] >= st.min_step_fraction * min(median, st.max_expected_step_s)
            if ok:
                history.append(t)
            accepted.append(ok)
        return np.array(accepted, dtype=bool)

    def _measure(self, p: IntArray) -> ContactTable:
        """The ICs of the steps anchored at ``p`` (none at the stream's very edge, with no slope to read)."""
        st = self.settings
        buf = self._buf
        start = buf.start or 0
        lo = np.maximum(p - self._back, start)
        width = self._back + 2
        first = p - self._back
        w = buf.windows(first, width)
        t = buf.times_windows(first, width)
        cols = np.arange(width)
        cue = (cols >= (lo - first)[:, None]) & (cols <= self._back)
        k_fwd = np.argmax(np.where(cue, w[:, :, FORWARD_PEAK], -np.inf), axis=1)
        k_vert = np.argmax(np.where(cue, w[:, :, VERTICAL_PEAK], -np.inf), axis=1)
        # braking onset: the steepest fall, per second of real time (a lost sample widens the interval)
        ap = w[:, :, BRAKING]
        with np.errstate(invalid="ignore"):
            slope = np.diff(ap, axis=1) / np.diff(t, axis=1)
        has = np.isfinite(slope) & (cols[:-1] >= (lo - first)[:, None])
        k_brake = np.argmin(np.where(has, slope, np.inf), axis=1)
        ok = has.any(axis=1)
        rows = np.arange(p.shape[0])
        brake_t = (t[rows, k_brake] + t[rows, k_brake + 1]) / 2
        ic_t = (
            t[rows, k_fwd]
            + st.forward_peak_lag_s
            + brake_t
            + st.braking_lag_s
            + t[rows, k_vert]
            + st.vertical_peak_lag_s
        ) / 3
        lag = (st.forward_peak_lag_s + st.braking_lag_s + st.vertical_peak_lag_s) / 3 * self.rate_hz
        ic_pos = ((first + k_fwd) + (first + k_brake + 0.5) + (first + k_vert)) / 3 + lag
        ic_t, ic_pos = ic_t[ok], ic_pos[ok]
        step = np.full(ic_t.shape[0], np.nan)
        for i, ic in enumerate(ic_t.tolist()):
            if self._prev_ic_t_s is not None and ic - self._prev_ic_t_s <= st.max_step_s:
                step[i] = ic - self._prev_ic_t_s
            self._prev_ic_t_s = ic
        nan = np.full(ic_t.shape[0], np.nan)
        return ContactTable(
            ic_index=np.maximum(buf.origin or 0, np.rint(ic_pos)).astype(np.int64),
            ic_t_s=ic_t,
            to_index=np.full(ic_t.shape[0], NO_INDEX),
            to_t_s=nan,
            contact_time_s=nan,
            flight_time_s=nan,
            step_time_s=step,
            cadence_spm=60.0 / step,
            impact_g=nan,
            loading_rate_g_s=nan,
        )
