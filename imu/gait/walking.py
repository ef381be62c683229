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
3. Initial contact: the mean of three cues, each shifted by its own lag (tuned on voisard2023 subjects 1–5
   only): the forward acceleration peak and the steepest fall of the forward acceleration, i.e. the braking
   onset (both on ``lowpass(acc_ap, forward_hz)``), and the vertical acceleration peak
   (``vertical_peak_hz``). Their errors are partly independent: on the tuning half the mean cut the share
   of ICs off by > 100 ms from 1.8 % (forward peak alone) to 0.9 %.
4. Where the cues are searched: the ``search_back_s`` before the anchor, or before the time the step rhythm
   expected the anchor (previous anchor + expected step time) when the anchor came later than that, by at
   most ``rhythm_reach_s`` more. Why: when the walker slows down (the last steps before a stop, the
   U-turn) the braking after heel strike lasts longer, which pulls the ``acc_v − acc_ap`` hump 0.25–0.4 s
   behind the IC instead of the usual 0.05–0.17 s, and a search window tied to the hump alone then holds
   only the cues of the braking, 0.1–0.3 s late. The rhythm says where the step should have been; the IC
   itself still comes from the signal. A bout's first steps (no rhythm yet) use the plain window.

The look-ahead is a budget shared by ``anchor_window_s`` and ``rhythm_reach_s`` (see Look-ahead): on the
tuning half (voisard2023 subjects 1–5, all labelled events) a ± 0.05 s anchor window found the same steps
as ± 0.15 s (F1 0.945 / 0.944), and the 0.1 s so saved buys the rhythm's reach: F1 0.945 → 0.949 with the
step final as early as before (reach 0.05 / 0.15 s: 0.947 / 0.950; the latter with ± 0.15 s: 0.951, but
0.15 s later, past the 0.5 s-after-toe-off rule for some steps under packet loss).

Toe-off is not given (``to_index`` = -1, NaN figures) and neither is ``impact_g``: at L5 in walking they
leave no cue this rule can time. The gyroscope is not used (no cue tried on the tuning half beat the
acceleration cues above within the time given; see the benchmark results).

Gaps: every time comes from the samples' own time stamps (a cue at the sample after a lost packet is timed
at that sample's real time; the braking slope divides by the real interval; the cue search spans
``search_back_s`` of real time, so a lost packet does not stretch it). The FIR filters see the
samples as they arrive; a single lost sample at 100 Hz shifts ≤ 1 of ``filter_length_s × rate`` taps, a
bounded, local effect. Long gaps end the activity bout (:mod:`imu.gait.bouts`), which is where steps are
read.

Look-ahead: an anchor is decided once ``anchor_window_s`` of filtered signal follows it; the cues only look
back. So a step is committed ``anchor_window_s + filter_length_s / 2`` of input after its anchor (0.35 s
with the defaults at 100 Hz). The anchor usually lies 50–170 ms after the IC, and the IC at most
``search_back_s + rhythm_reach_s`` (plus the cues' mean lag) before it, so
:attr:`WalkingContacts.ic_reach_samples` is 0.68 s at 100 Hz: a step is final ≈ 0.67 s after its IC in
the median (tuning half), about at its toe-off.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

from imu.gait.body_block import AP, BodyBlock, V
from imu.gait.contact_table import NO_INDEX, ContactTable
from imu.gait.signal_buffer import IntArray, SignalBuffer
from imu.samples import FloatArray

ANCHOR, FORWARD, VERTICAL = 0, 1, 2
"""Channels of the signal buffer (inputs: ``acc_v − acc_ap``, ``acc_ap``, ``acc_v``)."""


@dataclass(frozen=True)
class WalkingContactSettings:
    """Rule parameters; defaults in physical units (see the module docstring for each rule)."""

    filter_length_s: float = 0.6
    anchor_hz: float = 2.5
    anchor_window_s: float = 0.05
    min_rise_ms2: float = 0.3
    rise_s: float = 0.3
    min_step_fraction: float = 0.6
    max_expected_step_s: float = 0.7
    step_history: int = 4
    search_back_s: float = 0.2
    rhythm_reach_s: float = 0.1
    forward_hz: float = 12.0
    """Forward peak and braking onset share this channel (apart, 15 / 10 Hz, they timed no IC better)."""
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
            (st.anchor_hz, st.forward_hz, st.vertical_peak_hz), rate_hz, st.filter_length_s, inputs=(0, 1, 2)
        )
        self._w = max(1, round(st.anchor_window_s * rate_hz))
        self._rise = max(1, round(st.rise_s * rate_hz))
        self._back = max(1, round(st.search_back_s * rate_hz))
        self._reach = max(0, round(st.rhythm_reach_s * rate_hz))
        self._next_anchor: int | None = None
        self._recent_t_s: deque[float] = deque(maxlen=st.step_history + 1)
        """The last accepted anchors' times (s): the step history."""
        self._prev_ic_t_s: float | None = None

    @property
    def look_ahead_s(self) -> float:
        """Input needed after a step's anchor before the step is committed."""
        return (self._w + self._buf.delay_samples) / self.rate_hz

    @property
    def ic_reach_samples(self) -> int:
        """Once the input holds sample ``i + ic_reach_samples - 1``, every contact whose IC is at or before
        ``i`` has been emitted: an IC lies at most ``search_back_s + rhythm_reach_s`` (plus the cues' mean
        lag, when it is negative) before its anchor, and an anchor is committed :attr:`look_ahead_s` of input
        after it (read-only; for consumers that merge contacts)."""
        lag = self._mean_lag_samples
        return self._back + self._reach + int(np.ceil(max(-lag, 0.0))) + self._w + self._buf.delay_samples + 1

    @property
    def _mean_lag_samples(self) -> float:
        st = self.settings
        return (st.forward_peak_lag_s + st.braking_lag_s + st.vertical_peak_lag_s) / 3 * self.rate_hz

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
        if anchors.shape[0]:
            anchors = anchors[self._rises_enough(anchors)]
        steps, expected_t_s = self._follow_rhythm(anchors) if anchors.shape[0] else (anchors, np.empty(0))
        table = self._measure(steps, expected_t_s) if steps.shape[0] else ContactTable.empty()
        self._next_anchor = max(lo, hi)
        buf.trim(self._next_anchor - max(self._w, self._rise, self._back + self._reach) - 2)
        return table

    def _rises_enough(self, anchors: IntArray) -> NDArray[np.bool_]:
        """Rise rule: the anchor lies ``min_rise_ms2`` above the lowest of the ``rise_s`` before it (only
        kept samples count, as at the stream's start)."""
        s = self._rows(ANCHOR, anchors - self._rise, self._rise + 1, np.inf)
        ok: NDArray[np.bool_] = s[:, -1] - s.min(axis=1) >= self.settings.min_rise_ms2
        return ok

    def _rows(self, c: int, first: IntArray, width: int, fill: float) -> FloatArray:
        """(K, width): channel ``c`` over ``[first[k], first[k] + width)`` (``first`` ascending), ``fill``
        where a row reaches beyond the kept samples (the stream's start and end). One channel only, read
        through a strided view: cheaper than :meth:`SignalBuffer.windows`, which gathers every channel."""
        buf = self._buf
        lo, hi = int(first[0]), int(first[-1]) + width
        kept = buf.channel(c, lo, hi)
        before = min(max((buf.start or 0) - lo, 0), hi - lo)
        after = hi - lo - before - kept.shape[0]
        if before or after:
            kept = np.concatenate([np.full(before, fill), kept, np.full(after, fill)])
        rows: FloatArray = sliding_window_view(kept, width)[first - lo]
        return rows

    def _follow_rhythm(self, anchors: IntArray) -> tuple[IntArray, FloatArray]:
        """Periodicity rule, in order; returns the accepted anchors and, for each, where the rhythm expected
        it (previous anchor + expected step time, s; NaN without a rhythm). An accepted anchor joins the
        step history.

        A rejection is rare (a double hump), so the rule is evaluated for all anchors at once as if each were
        accepted, and again from the anchor after the first one it rejects (the same float operations as
        one anchor at a time)."""
        st = self.settings
        h = st.step_history
        times = self._buf.times_at(anchors.astype(np.float64))
        n = times.shape[0]
        keep = np.ones(n, dtype=bool)
        expected = np.full(n, np.nan)
        recent = self._recent_t_s
        k = 0
        while k < n:
            if len(recent) <= h:  # the stream's first anchors: fewer than step_history intervals
                seq = np.array([*recent, times[k]])
                gaps = np.sort(np.diff(seq[:-1]))[None, :]
                todo = 1
            else:
                seq = np.concatenate([np.array(recent), times[k:]])
                todo = n - k
                intervals = np.diff(seq)  # row i: the h intervals before anchor k + i
                gaps = np.sort(np.stack([intervals[j : j + todo] for j in range(h)], axis=1), axis=1)
            prev = seq[-todo - 1 : -1]  # each anchor's previous accepted anchor, if all are accepted
            since = seq[-todo:] - prev
            if gaps.shape[1] == 0:  # no interval yet: no rhythm to check against
                accept = todo
            else:
                mid = gaps.shape[1] // 2
                median = gaps[:, mid] if gaps.shape[1] % 2 else (gaps[:, mid - 1] + gaps[:, mid]) / 2
                step = np.minimum(median, st.max_expected_step_s)
                bad = since < st.min_step_fraction * step
                accept = int(np.argmax(bad)) if bad.any() else todo
                on_time = since[:accept] <= st.max_step_s
                expected[k : k + accept] = np.where(on_time, prev[:accept] + step[:accept], np.nan)
            recent.extend(times[k : k + accept].tolist())
            if accept < todo:
                keep[k + accept] = False
            k += accept + 1 if accept < todo else accept
        return anchors[keep], expected[keep]

    def _measure(self, p: IntArray, expected_t_s: FloatArray) -> ContactTable:
        """The ICs of the steps anchored at ``p`` (none at the stream's very edge, with no slope to read)."""
        st = self.settings
        buf = self._buf
        back = self._back + self._reach
        width = back + 2
        first = p - back
        fwd = self._rows(FORWARD, first, width, np.nan)
        t = buf.times_windows(first, width)
        # the search starts search_back_s before the anchor, or before the rhythm's expected anchor (real
        # time: lost samples shorten the window, half a sample of slack for the rounding of time stamps)
        late_s = np.fmin(np.fmax(t[:, back] - expected_t_s, 0.0), st.rhythm_reach_s)  # NaN: not late
        lo_t = t[:, back] - st.search_back_s - late_s - 0.5 / self.rate_hz
        inside = t[:, :-1] >= lo_t[:, None]  # the samples searched: up to the anchor (column back)
        k_fwd = np.argmax(np.where(inside, fwd[:, :-1], -np.inf), axis=1)
        vert = self._rows(VERTICAL, first, width - 1, np.nan)
        k_vert = np.argmax(np.where(inside, vert, -np.inf), axis=1)
        # braking onset: the steepest fall, per second of real time (a lost sample widens the interval)
        with np.errstate(invalid="ignore"):
            slope = np.diff(fwd, axis=1) / np.diff(t, axis=1)
        has = inside & np.isfinite(slope)
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
        ic_pos = ((first + k_fwd) + (first + k_brake + 0.5) + (first + k_vert)) / 3 + self._mean_lag_samples
        ic_t, ic_pos = ic_t[ok], ic_pos[ok]
        before = np.concatenate([[np.nan if self._prev_ic_t_s is None else self._prev_ic_t_s], ic_t[:-1]])
        step = ic_t - before
        step[~(step <= st.max_step_s)] = np.nan
        if ic_t.shape[0]:
            self._prev_ic_t_s = float(ic_t[-1])
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
