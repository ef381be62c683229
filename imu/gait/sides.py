"""Left or right for every step, with a confidence; unsure steps are labelled ``"?"``, never guessed.

Evidence per step: the stride phase
===================================
Left and right steps are mirror images in the mediolateral signals: pelvic roll (``gyr_ap``), yaw
(``gyr_v``) and mediolateral acceleration (``acc_ml``) repeat once per *stride*, while the symmetric
content (vertical and fore-aft bounce) repeats once per *step*. So the side of a step is the phase of the
stride-frequency component of those signals relative to its initial contact: shifting by one step
(``T``, the local step time) turns the stride-frequency sinusoid upside down, i.e. the other side.

The channels are first averaged over groups of consecutive samples down to about ``evidence_rate_hz``
(25 Hz: the stride and its first harmonics need no more; the box average keeps faster content from
aliasing). For each of the three channels the stage takes the groups over ``[-stride_windows · 2T,
+stride_windows · 2T]`` around the contact (two whole strides by default, so turning, drift and the
step-frequency bounce average out; the live side uses a shorter, past-heavy window, see below), removes a
straight line (a turn adds a slow ramp to the yaw rate and a centripetal offset to ``acc_ml``), divides by
the residual's standard deviation (scale free: any sensor, any speed) and projects onto ``cos(π τ / T)`` and
``sin(π τ / T)`` (``τ`` = time from the contact). A logistic model turns these
six numbers (two without a gyroscope) into the step's own ``p_right``. The weights were fitted on
voisard2023 subjects 1–5 (walking; trials 4-1 and 4-2 left out: their labels look swapped) by
``python -m benchmarks.accuracy.sides --tune``; subjects 6–9 are the untouched test split.

The earlier per-step window means (roll after IC, yaw around IC, ``acc_ml`` after IC, each over a
fraction of one step) reached 95.9 % correct on the tuning split with the same alternation model; the
stride phase reaches 98.7 % (99.15 % with the alternation carried across pauses of up to two step times,
below): it uses two strides of signal, and the whole waveform instead of one window.

Which way each cue points is learned from walking. With a gyroscope, the simulated runner
(:mod:`imu.sim`) whose roll and yaw follow the running literature gives the same signs; acceleration
alone is validated for walking only: in running the mediolateral acceleration at the sacrum mixes the
sway force with gravity projected by the pelvic roll, whose balance no real running recording with
left/right truth has settled; on the simulated runner it carries no side information. So without a
gyroscope, running-cadence steps (shorter than ``acc_only_min_step_s``) are left unsure, never guessed
(see ``benchmarks/results/accuracy_sides.md``).

Alternation: a soft prior in a two-state HMM
============================================
Sides alternate, but a missed or extra contact breaks the alternation, and forcing it made things worse
(FINDINGS.md). So alternation is soft evidence: a two-state hidden Markov model over the steps, where a
step follows the other side with probability ``alternation_prob`` when the interval from the previous
step is a plausible single step (at least ``min_step_s`` and at most ``gap_factor`` local step times), and
with probability 0.5 otherwise (a contact may be missing, an extra one may have been
found, or the walker stopped and restarted with either foot). On voisard subjects 1–5 the labelled sides
alternated across 865 of 866 intervals under 1.4 step times and all 24 between 1.4 and 2 (U-turns, hesitant
steps), but only 3 of 11 between 2 and 3 and about half of the longer ones: so ``gap_factor`` = 2 (it was
1.4, which threw away the alternation at every U-turn). A step whose posterior is below ``unsure_below``
gets side ``"?"``.

Two sides per step: live and smoothed
=====================================
- **live** (what :meth:`SideStage.update` returns; the dashboard's ``side``): the evidence window is
  past-heavy, ``[-a·T, +min(b·T, live_max_after_s)]`` (``live_window_steps`` = (2, 1)), and the HMM is
  a forward filter over all past steps (no future steps). It is final as soon as the samples reach
  ``live_max_after_s`` (0.5 s) after the contact, hence within 0.5 s of the step's toe-off, once the
  contact itself has arrived.
- **smoothed** (``smoothed=True``, :meth:`SideStage.take_smoothed`; the research tables'
  ``side_smoothed``): the two-stride window ``[-2T, +2T]`` and a fixed-lag smoother: the forward filter
  over all earlier steps (as the live side's, with the two-stride evidence) and the backward message from
  the ``look_ahead_steps`` after the step. (It was forward–backward over the 8 steps before and the 3
  after; on voisard subjects 1–5 no side changed, and the filter carried from block to block costs less.)
  At the end of the stream (``flush``) the last steps have fewer or no steps after them and lean on the
  past.

Neither is ever retracted; they may disagree. The live side costs accuracy, mostly as unsure steps
(``benchmarks/results/accuracy_sides.md``; voisard test split with the causal frame: 92.0 % correct, 7.3 %
unsure, 99.2 % of labelled correct, against 97.6 %, 2.2 %, 99.75 % smoothed with the frame's segments
given, see below), so the research tables use the smoothed side.

The frame at the start of a walk
================================
The causal body frame (:class:`imu.gait.frame.BodyFrameStage`) commits a new rotation when the frame
moved; during the first seconds of a walk its forward axis can be tens of degrees (up to 180°) off, so the
roll rate and the ml acceleration of those steps were rotated with a wrong heading (the yaw rate about up
is not affected) and their evidence is weak or contradicts itself. The smoothed side may wait: given the
frame's segments (``update(..., segments=...)``; the pipeline passes them), a step's smoothed evidence
waits ``reframe_wait_s`` (0.5 s) after its window's end, and the window is rotated into the frame in
effect at that sample whenever a frame used inside the window lies more than ``reframe_min_deg`` from
it: the held 25 Hz group means of all six axes are rotated by ``R_ref · R_usedᵀ`` (exact for groups
inside one segment, since group means are linear in the samples; a group that straddles a frame change
is rotated with the frame of its first sample). The reference is fixed by the step's own window, so it
is the same for any chunking; the live side is never re-rotated (it must be final within 0.5 s). On
voisard subjects 1–5 (no first-step side was missed there, so no side changed) the first three steps'
evidence log-likelihood, summed over the trials, rose from -8.1 to -6.5 (all steps: -79.2 to -77.2); the
frame at the window's end alone (no wait) made it worse, -9.3: the better forward axis often comes a hop
or two later. Without a gyroscope, smoothed sides there went from 98.09 to 98.72 % correct. Test subjects
6–9, measured once: 96.86 → 97.58 % correct (first-two-step misses 6 → 1), but without a gyroscope
78.38 → 77.42 %.

Look-ahead and memory
=====================
Live: :attr:`SideStage.look_ahead_s` = ``live_max_after_s`` of samples after the contact. Smoothed: a
step is committed once ``look_ahead_steps`` further steps have their evidence, and a step's evidence needs
samples up to ``2 · stride_windows · T`` after its contact: worst case ``(look_ahead_steps + 2 ·
stride_windows) · max_step_s``, plus ``reframe_wait_s`` when the frame's segments are given
(:attr:`SideStage.smoothed_look_ahead_s`). The stage keeps only the steps
the HMMs still need and the samples the pending evidence windows need, so its memory is bounded whatever
the length of the stream.

Speed
=====
Everything runs per block on arrays: the held steps are columns (no object per step), and the evidence of
every step whose window is complete is computed at once. The cue channels are kept as averaged groups
(``group_size`` samples each, anchored at the stream's first sample, so the groups do not depend on the
chunking), which shrinks the evidence fit's rows by the group size (8 at 208 Hz). Windows are found by
``searchsorted`` on the groups' last sample times; their rows are gathered into the products the fit needs
(cos and sin in single precision, vectorised: off by about 1e-7, no side changed on voisard) and summed
per window by one ``add.reduceat`` (:func:`window_sums`). A step's smoothed window starts where
its live window starts, so its sums are the live window's (kept from when the live side was found) plus
the rest's: each group is gathered once per step. The forward filters (live and smoothed) run on plain
floats, one step after the other, carried from block to block; the smoothed side's backward messages run
for all committable steps at once. A step's evidence depends on its own window only and its posteriors on
the steps in stream order only, so they are the same for any chunking.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from imu.errors import InputError
from imu.gait.body_block import AP, ML, BodyBlock, V
from imu.samples import FloatArray


class FrameSegmentLike(Protocol):
    """What the stage reads of :class:`imu.gait.frame.FrameSegment`: from ``start_index`` on, the body
    samples were rotated with ``rotation`` (rows ap, v, ml in sensor coordinates)."""

    @property
    def start_index(self) -> int: ...
    @property
    def rotation(self) -> FloatArray: ...


@dataclass(frozen=True)
class SideSettings:
    """Evidence windows, logistic weights, alternation model (see the module docstring)."""

    stride_windows: float = 1.0
    """Smoothed side: half-width of the evidence window in strides (``2T`` each): 1 → ``[-2T, 2T]``."""
    live_window_steps: tuple[float, float] = (2.0, 1.0)
    """Live side: the evidence window ``[-a·T, +b·T]`` around the contact, ``(a, b)`` in steps ``T``
    (chosen on voisard subjects 1–5 among a = 1…5, b = 0.5…1; the weights are the smoothed side's:
    refitting them for this window did not help on those subjects)."""
    live_max_after_s: float = 0.5
    """Live side: the window never reaches more than this after the contact, so the live side is final
    within this of the contact (hence of its toe-off) whatever the step time."""
    weights_gyr: tuple[float, float, float, float, float, float] = (-2.56, -0.85, 3.84, -3.44, 1.41, -4.07)
    """Logistic weights of the (cos, sin) stride-phase projections of roll rate, yaw rate and ml
    acceleration, with a gyroscope; fitted on voisard subjects 1–5."""
    weights_acc_only: tuple[float, float] = (-1.17, -9.44)
    """Logistic weights of the (cos, sin) projections of the ml acceleration without a gyroscope; fitted
    on voisard subjects 1–5."""
    acc_only_min_step_s: float = 0.42
    """Without a gyroscope, steps shorter than this (cadence above ≈ 143 spm: running), or whose step time
    is not measured yet, get no evidence (0.5, so ``"?"``): the ml-acceleration cue is validated on
    walking only, and on the simulated runner it carries no side information (per-step evidence right
    52 % of the time with the walking weights)."""
    evidence_rate_hz: float = 25.0
    """The cue channels are averaged over groups of ``max(1, rate_hz // evidence_rate_hz)`` consecutive
    samples before the stride-phase fit: the stride (≈ 1 Hz) and its harmonics need no more, the box
    average keeps the faster content from aliasing, and the fit's rows shrink by the group size. Against
    every sample, on voisard subjects 1–5 (100 Hz, groups of 4) it changed no smoothed side and 5 live
    ones (3 more right), without a gyroscope 3 smoothed and 3 live ones (all 3 more right); on the
    simulated runner (208 Hz, groups of 8) one live side of 1356 became unsure."""
    default_step_s: float = 0.45
    min_step_s: float = 0.2
    max_step_s: float = 1.2
    median_of_steps: int = 5
    alternation_prob: float = 0.99
    gap_factor: float = 2.0
    look_ahead_steps: int = 3
    unsure_below: float = 0.9
    reframe_wait_s: float = 0.5
    reframe_min_deg: float = 10.0
    """Smoothed side, when the stage is given the body frame's segments: its evidence waits
    ``reframe_wait_s`` after the window's end, and the window is rotated into the frame in effect then
    when a frame used inside the window lies more than ``reframe_min_deg`` away from it (see "The frame at
    the start of a walk" in the module docstring). Chosen on voisard subjects 1–5 by the log-likelihood of
    the first three steps' evidence per trial, summed (waits 0 / 0.5 / 1 / 2 s: -9.3 / -6.5 / -6.8 / -6.5,
    without re-rotation -8.1); 10° rather than 0° keeps a 6° late correction from turning an unsure U-turn
    step wrong there (2 s did so even at 10°)."""

    def window_s(self, step_s: float, live: bool) -> tuple[float, float]:
        """(seconds before, seconds after) the contact that the evidence of a step of ``step_s`` uses."""
        if live:
            before, after = self.live_window_steps
            return before * step_s, min(after * step_s, self.live_max_after_s)
        half = self.stride_windows * 2.0 * step_s
        return half, half

    def group_size(self, rate_hz: float) -> int:
        """Samples averaged into one row of the evidence fit (see ``evidence_rate_hz``)."""
        return max(1, int(rate_hz // self.evidence_rate_hz))


@dataclass(slots=True)
class StepSide:
    """The side of the step starting at absolute sample ``index`` (time ``t_s``).

    ``side`` is ``"L"``, ``"R"`` or ``"?"``; ``p_right`` the posterior probability of a right step;
    ``confidence = max(p_right, 1 - p_right)``; ``evidence_p_right`` the step's own evidence alone.
    Final when returned (treat it as read-only; it is not frozen because a frozen dataclass costs six times
    as much to build, and the stage builds two per step).
    """

    index: int
    t_s: float
    side: str
    p_right: float
    confidence: float
    evidence_p_right: float


def window_sums(
    t_s: FloatArray,
    signals: FloatArray,
    t_ic_s: FloatArray,
    step_s: FloatArray,
    from_s: FloatArray,
    to_s: FloatArray,
    edge_t_s: FloatArray | None = None,
) -> tuple[FloatArray, FloatArray]:
    """(samples, sums) of each window: the sums a stride-phase fit needs, ``(windows, 6 + 5 · columns)``.

    A window holds the samples whose ``edge_t_s`` (default ``t_s``; the stage passes each averaged group's
    last sample time, see :func:`group_means`) lies in ``[from_s, to_s)``; ``τ = t_s - t_ic_s`` and the
    phase ``π τ / step_s``. The sums are of ``τ, τ², cos, sin, τ·cos, τ·sin``, then ``x, τx, x·cos,
    x·sin, x²`` per column ``x``, gathered for all windows at once and added per window by one
    ``add.reduceat``: each sum runs over its own window's rows only, so its bits do not depend on the other
    windows. Sums of adjacent windows add up to the sums of their union (to rounding).
    """
    n_cols = signals.shape[1]
    sums = np.zeros((t_ic_s.shape[0], 6 + 5 * n_cols))
    edge = t_s if edge_t_s is None else edge_t_s
    lo = np.searchsorted(edge, from_s)
    count = np.searchsorted(edge, to_s) - lo
    use = np.flatnonzero(count > 0)
    if use.size == 0:
        return count.astype(np.float64), sums
    n_use = count[use]
    first = np.concatenate([[0], np.cumsum(n_use)[:-1]])
    rows = np.arange(int(n_use.sum())) + np.repeat(lo[use] - first, n_use)
    # one contiguous row per product (rows: τ, τ², cos, sin, τ·cos, τ·sin, then x, τx, x·cos, x·sin, x²
    # per column), written in place
    products = np.empty((sums.shape[1], rows.shape[0]))
    tau = np.subtract(t_s[rows], np.repeat(t_ic_s[use], n_use), out=products[0])
    np.multiply(tau, tau, out=products[1])
    phase = np.multiply(tau, np.pi)
    phase /= np.repeat(step_s[use], n_use)
    # cos and sin in single precision: about 8x faster (vectorised), off by ~1e-7, far below the cues' noise
    phase_32 = phase.astype(np.float32)
    cos, sin = products[2], products[3]
    cos[:] = np.cos(phase_32)
    sin[:] = np.sin(phase_32)
    np.multiply(tau, cos, out=products[4])
    np.multiply(tau, sin, out=products[5])
    per_column = products[6:].reshape(n_cols, 5, rows.shape[0])
    x = per_column[:, 0]
    x[:] = signals[rows].T
    np.multiply(tau, x, out=per_column[:, 1])
    np.multiply(cos, x, out=per_column[:, 2])
    np.multiply(sin, x, out=per_column[:, 3])
    np.multiply(x, x, out=per_column[:, 4])
    sums[use] = np.add.reduceat(products, first, axis=1).T
    return count.astype(np.float64), sums


def phases_from_sums(count: FloatArray, sums: FloatArray) -> FloatArray:
    """The stride-phase features ``(windows, 2 · columns)`` from :func:`window_sums`: per column, the
    least-squares line in ``τ`` is removed, and the residual's cos and sin projections are divided by the
    window's sample count and the residual's standard deviation; zeros for a window of fewer than
    ``_MIN_SAMPLES`` samples or a flat column."""
    n_cols = (sums.shape[1] - 6) // 5
    out = np.zeros((count.shape[0], 2 * n_cols))
    use = np.flatnonzero(count >= _MIN_SAMPLES)
    if use.size == 0:
        return out
    s = sums[use]
    n = count[use][:, None]
    s_tau, s_tau2, s_cos, s_sin, s_tau_cos, s_tau_sin = (s[:, k : k + 1] for k in range(6))
    s_x, s_tau_x, s_cos_x, s_sin_x, s_x2 = (s[:, 6 + k :: 5] for k in range(5))  # (windows, columns) each
    # least-squares line x ≈ a + b τ per column, then sums of the residual r = x - a - b τ
    tau_mean = s_tau / n
    slope = (s_tau_x - tau_mean * s_x) / (s_tau2 - tau_mean * s_tau)
    offset = s_x / n - slope * tau_mean
    r_cos = s_cos_x - offset * s_cos - slope * s_tau_cos
    r_sin = s_sin_x - offset * s_sin - slope * s_tau_sin
    r2 = s_x2 - offset * s_x - slope * s_tau_x
    # a residual at the rounding level of Σx² is no signal (a constant channel)
    signal = r2 > _RESIDUAL_FLOOR * s_x2
    sd = np.sqrt(np.where(signal, r2, 1.0) / n)
    out[use, 0::2] = np.where(signal, r_cos / n / sd, 0.0)
    out[use, 1::2] = np.where(signal, r_sin / n / sd, 0.0)
    return out


def stride_phases(
    t_s: FloatArray,
    signals: FloatArray,
    t_ic_s: FloatArray,
    step_s: FloatArray,
    before_s: FloatArray,
    after_s: FloatArray,
    edge_t_s: FloatArray | None = None,
) -> FloatArray:
    """:func:`stride_phase` of many steps at once, ``(steps, 2 · columns)``: the window of step ``k`` is
    ``[t_ic_s - before_s, t_ic_s + after_s)`` (see :func:`window_sums`)."""
    return phases_from_sums(
        *window_sums(t_s, signals, t_ic_s, step_s, t_ic_s - before_s, t_ic_s + after_s, edge_t_s)
    )


_MIN_SAMPLES = 8
"""A window with fewer samples than this gives no evidence."""


_RESIDUAL_FLOOR = 1e-12
"""A window whose residual sum of squares is below this fraction of Σx² counts as flat (no evidence)."""


def stride_phase(
    t_s: FloatArray, signals: FloatArray, t_ic_s: float, step_s: float, window_s: tuple[float, float]
) -> FloatArray:
    """(cos, sin) projections of each column of ``signals`` at the stride frequency, phase 0 at the contact.

    Samples from ``window_s[0]`` before to ``window_s[1]`` after ``t_ic_s`` take part; a least-squares line
    is removed first and the result is divided by the residual's standard deviation. Returns shape
    ``(2 · columns,)``: ``cos₀, sin₀, cos₁, sin₁, …``; zeros when the window holds too few samples.
    """
    one = np.array([t_ic_s]), np.array([step_s]), np.array([window_s[0]]), np.array([window_s[1]])
    return np.asarray(stride_phases(t_s, signals, *one)[0])


def group_means(t_s: FloatArray, signals: FloatArray, size: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(mean time, last time, mean signals) of each complete group of ``size`` consecutive samples from the
    first (a shorter rest is left out): the group's sums add its samples in order, so a group's bits
    depend on its own samples only."""
    n = t_s.shape[0] // size
    t_groups = t_s[: n * size].reshape(n, size)
    s_groups = signals[: n * size].reshape(n, size, signals.shape[1])
    t_sum, s_sum = t_groups[:, 0].copy(), s_groups[:, 0].copy()
    for j in range(1, size):
        t_sum += t_groups[:, j]
        s_sum += s_groups[:, j]
    return t_sum / size, t_groups[:, -1].copy(), s_sum / size


def side_channels(acc: FloatArray, gyr: FloatArray | None) -> FloatArray:
    """The side cues' signals (N, 3): roll rate, yaw rate, ml acceleration; (N, 1) ml only without gyr."""
    if gyr is None:
        return np.ascontiguousarray(acc[:, [ML]])
    return np.column_stack([gyr[:, AP], gyr[:, V], acc[:, ML]])


def step_cues(
    t_s: FloatArray,
    acc: FloatArray,
    gyr: FloatArray | None,
    rate_hz: float,
    t_ic_s: FloatArray,
    step_s: FloatArray,
    settings: SideSettings,
    live: bool = False,
) -> FloatArray:
    """Stride-phase features of steps as :class:`SideStage` computes them from a recording that starts at
    ``t_s[0]`` (the same sample groups): roll, yaw, ml acceleration (cos, sin each); ml only without gyr."""
    t_mean, t_last, signals = group_means(t_s, side_channels(acc, gyr), settings.group_size(rate_hz))
    before, after = np.array([settings.window_s(float(x), live) for x in step_s]).reshape(-1, 2).T
    return stride_phases(t_mean, signals, t_ic_s, step_s, before, after, t_last)


def all_channels(acc: FloatArray, gyr: FloatArray | None) -> FloatArray:
    """:func:`side_channels`, then the axes they leave out: ap and v acceleration, and ml angular rate
    with gyr ((N, 6); (N, 3) without): with them a group's axes can be rotated into another frame."""
    if gyr is None:
        return np.column_stack([acc[:, ML], acc[:, AP], acc[:, V]])
    return np.column_stack([gyr[:, AP], gyr[:, V], acc[:, ML], acc[:, AP], acc[:, V], gyr[:, ML]])


def _logistic(cues: FloatArray, weights: Sequence[float]) -> FloatArray:
    """``p_right`` from cue rows (steps, features): the weighted sum in a fixed order, then the logistic."""
    z = cues[:, 0] * weights[0]
    for j in range(1, len(weights)):
        z = z + cues[:, j] * weights[j]
    out: FloatArray = 1.0 / (1.0 + np.exp(-z))
    return out


def _filter_right(previous_right: float | None, p_right: float, alternation: float) -> float:
    """P(right | this and all earlier steps' evidence) from the same for the step before (plain floats)."""
    if previous_right is None:
        prior_left = prior_right = 0.5
    else:
        prior_left = (1.0 - previous_right) * (1.0 - alternation) + previous_right * alternation
        prior_right = (1.0 - previous_right) * alternation + previous_right * (1.0 - alternation)
    left, right = (1.0 - p_right) * prior_left, p_right * prior_right
    return right / (left + right)


def filter_step(previous: FloatArray | None, p_right: float, alternation: float) -> FloatArray:
    """One forward (filtering) step of the HMM: P(left, right | this and all earlier steps' evidence).

    ``previous`` is the same for the step before (``None`` at the start: both sides equally likely).
    """
    right = _filter_right(None if previous is None else float(previous[1]), p_right, alternation)
    return np.array([1.0 - right, right])


def filter_run(previous_right: float | None, p_right: FloatArray, alternation: FloatArray) -> list[float]:
    """:func:`filter_step` over consecutive steps (P(right) only), from the one before them
    (``previous_right``, ``None`` at the start): plain floats, one step after the other, so a step's value
    does not depend on how the steps were batched."""
    p, a = p_right.tolist(), alternation.tolist()
    if not p:
        return []
    right = _filter_right(previous_right, p[0], a[0])
    out = [right]
    for p_j, a_j in zip(p[1:], a[1:], strict=True):  # _filter_right, written out (faster)
        prior_right = (1.0 - right) * a_j + right * (1.0 - a_j)
        prior_left = (1.0 - right) * (1.0 - a_j) + right * a_j
        r = p_j * prior_right
        right = r / ((1.0 - p_j) * prior_left + r)
        out.append(right)
    return out


def lagged_posteriors(
    filtered_right: FloatArray, p_after: FloatArray, alternation_after: FloatArray
) -> FloatArray:
    """P(right) of steps given all earlier evidence and that of the steps after them: the fixed-lag
    smoother. ``filtered_right`` (steps,) is each step's :func:`filter_run` value; row k of ``p_after`` and
    ``alternation_after`` (steps, L) holds the evidence and the alternation prior of the L steps after step
    k, ``nan`` evidence where there is no such step. The backward message runs from the last of them down,
    one column at a time for all steps together."""
    b0 = b1 = np.ones(filtered_right.shape[0])
    for j in range(p_after.shape[1] - 1, -1, -1):
        p = p_after[:, j]
        there = ~np.isnan(p)
        switch = np.where(there, alternation_after[:, j], 0.0)
        stay = 1.0 - switch
        x0, x1 = np.where(there, 1.0 - p, 1.0) * b0, np.where(there, p, 1.0) * b1
        b0, b1 = stay * x0 + switch * x1, switch * x0 + stay * x1
    right = filtered_right * b1
    out: FloatArray = right / ((1.0 - filtered_right) * b0 + right)
    return out


def posterior_right(p_right: FloatArray, alternation: FloatArray) -> FloatArray:
    """Forward–backward over a run of steps: ``alternation[j]`` is P(step j is the other side of j - 1)
    (:func:`lagged_posteriors` with every later step of the run)."""
    n = p_right.shape[0]
    later = np.arange(n)[:, None] + 1 + np.arange(max(n - 1, 0))[None, :]
    at = np.minimum(later, n - 1)
    p_after = np.where(later < n, p_right[at], np.nan)
    return lagged_posteriors(np.array(filter_run(None, p_right, alternation)), p_after, alternation[at])


class SideStage:
    """Body-frame blocks and initial-contact indices in, committed :class:`StepSide` lists out.

    ``update(block, ic_indices)``: ``ic_indices`` are absolute sample indices of initial contacts found so
    far (increasing, each reported once, possibly lying in earlier blocks still within the last
    ``max_step_s`` of samples). It returns the **live** sides that became final (each within
    :attr:`look_ahead_s` of its contact). With ``smoothed=True`` the stage also finds the **smoothed**
    sides: :meth:`take_smoothed` returns those that became final since it was last called (each within
    :attr:`smoothed_look_ahead_s`; call it after every ``update`` and after ``flush``, or they pile up).
    ``flush()`` commits the remaining live sides and makes every remaining smoothed side final. Every
    contact gets exactly one of each, in order; none is retracted.

    The held steps are columns of arrays (index, time, step time, alternation prior, windows, evidence;
    ``nan`` evidence = not computed yet), so a block's steps are handled together, not one by one.
    """

    def __init__(self, rate_hz: float, settings: SideSettings | None = None, smoothed: bool = False):
        if not np.isfinite(rate_hz) or rate_hz <= 0:
            raise InputError("the sampling rate must be positive", expected="rate_hz > 0", found=str(rate_hz))
        self.settings = s = settings or SideSettings()
        self.rate_hz = float(rate_hz)
        self.smoothed = smoothed
        self._t = np.empty(0)
        """Times of the held samples (where the contacts are looked up)."""
        self._group = s.group_size(rate_hz)
        self._tail_t = np.empty(0)
        self._tail_signals = np.empty((0, 3))
        """The samples of the group not complete yet (fewer than ``group_size``)."""
        self._group_t = np.empty(0)
        self._group_last_t = np.empty(0)
        self._group_signals = np.empty((0, 3))
        """Complete groups of held samples: mean time, last sample's time, mean cue channels
        (:func:`group_means`, :func:`side_channels`); the groups start at the stream's first sample."""
        self._group_run = np.empty(0, dtype=np.int64)
        self._group_others = np.empty((0, 3))
        """Per complete group: the frame run its first sample was rotated with (-1: none given) and the
        means of the axes :func:`side_channels` leaves out (:func:`all_channels`; ``nan`` if none given).
        Once segments are given, the tail's samples hold those axes too, after the cue channels."""
        self._run_start = np.empty(0, dtype=np.int64)
        self._run_rotation = np.empty((0, 3, 3))
        self._run_base = 0
        """Runs of frame segments with one rotation: first sample, rotation (rows ap, v, ml); the first
        held run's number (runs are counted from the stream's start)."""
        self._first_index = 0
        self._groups_made = 0
        self._has_gyr: bool | None = None
        self._start = 0
        self._started = False
        self._steps: _Steps | None = None
        """The steps still needed: from the next live or smoothed commit, whichever is earlier; older ones
        are forgotten (the filters carry what the HMMs need of them)."""
        self._n_forgotten = 0
        """Steps forgotten, counted from the stream's start (as are the two below)."""
        self._n_live = 0
        """Steps whose live side is committed."""
        self._n_smoothed = 0
        """Steps whose smoothed side is committed."""
        self._live_right: float | None = None
        self._smoothed_right: float | None = None
        """The live filter's and the smoothed side's forward filter's P(right) at the last step filtered."""
        self._n_filtered = 0
        """Steps the smoothed side's forward filter has passed (counted from the stream's start)."""
        self._smoothed: list[StepSide] = []
        self._last_index = np.iinfo(np.int64).min
        self._recent_t: deque[float] = deque(maxlen=s.median_of_steps)
        ratios = (s.live_window_steps[0], 2.0 * s.stride_windows if smoothed else 0.0)
        self._reach_before = max(ratios)
        """The longest evidence window before a contact, in step times."""
        self._share = s.live_window_steps[0] == 2.0 * s.stride_windows >= s.live_window_steps[1]
        """Whether a step's live window is the start of its smoothed one (so its sums are shared)."""

    @property
    def look_ahead_s(self) -> float:
        """Live side: samples needed after a contact before its side is final (at most
        ``live_max_after_s``); the contact itself must have arrived too."""
        s = self.settings
        return s.window_s(s.max_step_s, live=True)[1]

    @property
    def smoothed_look_ahead_s(self) -> float:
        """Smoothed side, worst case: ``look_ahead_steps`` of the longest step plus the evidence span, plus
        ``reframe_wait_s`` (waited only when the stage is given the frame's segments)."""
        s = self.settings
        return (s.look_ahead_steps + 2.0 * s.stride_windows) * s.max_step_s + s.reframe_wait_s

    @property
    def held_samples(self) -> int:
        """Samples held for pending evidence windows (bounded: the memory does not grow with the stream)."""
        return int(self._t.shape[0])

    @property
    def held_steps(self) -> int:
        """Steps held: those waiting for evidence or look-ahead (bounded)."""
        return len(self._steps) if self._steps is not None else 0

    def update(
        self,
        block: BodyBlock,
        ic_indices: Sequence[int] | np.ndarray = (),
        segments: Sequence[FrameSegmentLike] = (),
    ) -> list[StepSide]:
        """``segments``: the body frame's segments that started since the last call (in order, each
        before the samples it covers arrive; see "The frame at the start of a walk")."""
        self._note_segments(segments)
        self._append(block)
        self._add_contacts(np.asarray(ic_indices, dtype=np.int64))
        self._evaluate(final=False)
        return self._commit_both(final=False)

    def flush(self) -> list[StepSide]:
        self._evaluate(final=True)
        return self._commit_both(final=True)

    def take_smoothed(self) -> list[StepSide]:
        """The smoothed sides that became final since the last call (each returned once, in order)."""
        out, self._smoothed = self._smoothed, []
        return out

    # ------------------------------------------------------------------ internals
    @property
    def _reframing(self) -> bool:
        """Whether frame segments were given (so the groups keep all axes, see ``_group_others``)."""
        return bool(self._run_start.shape[0])

    def _append(self, block: BodyBlock) -> None:
        if len(block) == 0:
            return
        if self._has_gyr is None:
            self._has_gyr = block.gyr is not None
            self._group_signals = np.empty((0, 3 if self._has_gyr else 1))
            self._group_others = np.empty((0, 3 if self._has_gyr else 2))
            n_tail = self._group_signals.shape[1] + (self._group_others.shape[1] if self._reframing else 0)
            self._tail_signals = np.empty((0, n_tail))
        if (block.gyr is not None) != self._has_gyr:
            raise InputError(
                "the gyroscope cannot appear or vanish mid-stream",
                expected="all blocks with or all without angular rate",
            )
        if not self._started:
            self._started, self._start = True, block.start_index
            self._first_index = block.start_index
        elif block.start_index != self._start + len(self._t):
            raise InputError(
                "blocks must be consecutive",
                expected=f"start_index {self._start + len(self._t)}",
                found=str(block.start_index),
            )
        self._t = np.concatenate([self._t, block.t_s])
        t = np.concatenate([self._tail_t, block.t_s])
        channels = (all_channels if self._reframing else side_channels)(block.acc, block.gyr)
        signals = np.concatenate([self._tail_signals, channels])
        done = t.shape[0] // self._group * self._group
        self._tail_t, self._tail_signals = t[done:], signals[done:]
        if done:
            mean_t, last_t, mean_signals = group_means(t[:done], signals[:done], self._group)
            n_cues = self._group_signals.shape[1]
            self._group_t = np.concatenate([self._group_t, mean_t])
            self._group_last_t = np.concatenate([self._group_last_t, last_t])
            self._group_signals = np.concatenate([self._group_signals, mean_signals[:, :n_cues]])
            n_new = mean_t.shape[0]
            if self._reframing:
                first = self._first_index + (self._groups_made + np.arange(n_new)) * self._group
                run = self._run_base + np.searchsorted(self._run_start, first, side="right") - 1
                mean_others = mean_signals[:, n_cues:]
            else:  # no frame given (yet): these groups are never re-rotated
                run = np.full(n_new, -1, dtype=np.int64)
                mean_others = np.full((n_new, self._group_others.shape[1]), np.nan)
            self._group_run = np.concatenate([self._group_run, run])
            self._group_others = np.concatenate([self._group_others, mean_others])
            self._groups_made += n_new

    def _note_segments(self, segments: Sequence[FrameSegmentLike]) -> None:
        """Keep the segments' rotations as runs (consecutive segments with the same rotation are one run)."""
        if not segments:
            return
        rotations = np.array([seg.rotation for seg in segments], dtype=np.float64).reshape(-1, 3, 3)
        starts = np.array([seg.start_index for seg in segments], dtype=np.int64)
        before = self._run_rotation[-1:] if self._run_start.shape[0] else rotations[:1] + np.nan
        changed = np.any(rotations != np.concatenate([before, rotations[:-1]]), axis=(1, 2))
        if not self._reframing and self._has_gyr is not None:  # the tail's samples get nan other axes
            nan = np.full((self._tail_t.shape[0], self._group_others.shape[1]), np.nan)
            self._tail_signals = np.concatenate([self._tail_signals, nan], axis=1)
        self._run_start = np.concatenate([self._run_start, starts[changed]])
        self._run_rotation = np.concatenate([self._run_rotation, rotations[changed]])

    def _add_contacts(self, ics: np.ndarray) -> None:
        """Step time (median of the plausible intervals among the last ``median_of_steps`` contacts) and
        alternation prior of each new contact, all at once (the same float operations as one at a time)."""
        if ics.size == 0:
            return
        s = self.settings
        held = len(self._t)
        after = np.concatenate([[self._last_index], ics])
        unordered = ics <= after[:-1]
        inside = (self._start <= ics) & (ics < self._start + held) & self._started
        bad = np.flatnonzero(unordered | ~inside)
        if bad.size:
            k = int(bad[0])
            if unordered[k]:
                raise InputError(
                    "initial contacts must increase", expected=f"an index after {after[k]}", found=str(ics[k])
                )
            raise InputError(
                "an initial contact outside the samples held",
                expected=f"index in [{self._start}, {self._start + held})",
                found=str(ics[k]),
            )
        t_ic = self._t[ics - self._start]
        recent = len(self._recent_t)
        intervals = np.diff(np.concatenate([list(self._recent_t), t_ic]))
        # contact j's intervals: the last median_of_steps ones ending at it (fewer at the stream's start)
        ends = recent + np.arange(ics.size) if s.median_of_steps else np.zeros(ics.size, dtype=np.int64)
        at = ends[:, None] - s.median_of_steps + np.arange(s.median_of_steps)[None, :]
        d = intervals[np.clip(at, 0, None)] if intervals.size else np.zeros(at.shape)
        plausible = (at >= 0) & (s.min_step_s <= d) & (d <= s.max_step_s)
        n_ok = plausible.sum(axis=1)
        # sorted, the implausible ones last (inf); the median is the mean of the middle two (one if odd)
        ok = np.sort(np.where(plausible, d, np.inf), axis=1)
        row = np.arange(ics.size)
        if s.median_of_steps:
            middle = (ok[row, np.maximum(n_ok - 1, 0) // 2] + ok[row, n_ok // 2]) / 2
        else:
            middle = np.full(ics.size, s.default_step_s)
        step_s = np.where(n_ok > 0, middle, s.default_step_s)
        latest = intervals[np.maximum(ends - 1, 0)] if intervals.size else np.zeros(ics.size)
        follows = (ends > 0) & (s.min_step_s <= latest) & (latest <= s.gap_factor * step_s)
        alternation = np.where(follows, s.alternation_prob, 0.5)
        self._recent_t.extend(t_ic.tolist())
        self._last_index = int(ics[-1])
        # no evidence without a gyroscope for a step time not measured or too short (see SideSettings)
        usable = np.full(ics.size, bool(self._has_gyr)) | ((n_ok > 0) & (step_s >= s.acc_only_min_step_s))
        live_before, live_after = s.live_window_steps
        before = live_before * step_s
        after_s = np.minimum(live_after * step_s, s.live_max_after_s)
        half = s.stride_windows * 2.0 * step_s  # the same windows as SideSettings.window_s
        n_sums = 6 + 5 * self._group_signals.shape[1]
        new = _Steps.new(n_sums, ics, t_ic, step_s, alternation, usable, (before, after_s, half))
        self._steps = new if self._steps is None else _Steps.concat(self._steps, new)

    def _evaluate(self, final: bool) -> None:
        """Evidence (live and smoothed) for each step whose samples up to the end of its window have
        arrived, all such steps at once; then forget the samples no pending or future window can reach.

        A step's smoothed window starts where its live window starts (``2T`` before the contact, with the
        default settings) and ends later, so its sums are the live window's (kept from when the live side
        was found) plus those of the rest ``[t + live_after_s, t + half_s)``: each sample is gathered
        once per step. Either way a step's sums depend on its own samples only."""
        st = self._steps
        t_end = float(self._t[-1]) if len(self._t) else -np.inf
        if st is not None and len(st):
            self._evidence(st, t_end, final)
        s = self.settings
        pending_t = t_end
        if st is not None:
            waiting = np.isnan(st.p_live)
            if self.smoothed:
                waiting |= np.isnan(st.p_right)
            if waiting.any():
                pending_t = float(st.t_s[waiting][0])
        # a contact still to come may lie up to max_step_s back; its window reaches further back still
        horizon = min(pending_t, t_end - s.max_step_s) - self._reach_before * s.max_step_s
        drop = int(np.searchsorted(self._t, horizon)) if np.isfinite(horizon) else 0
        if drop > 0:
            self._t = self._t[drop:]
            self._start += drop
            gone = int(np.searchsorted(self._group_last_t, horizon))
            self._group_t, self._group_last_t = self._group_t[gone:], self._group_last_t[gone:]
            self._group_signals = self._group_signals[gone:]
            self._group_run, self._group_others = self._group_run[gone:], self._group_others[gone:]
            if self._group_run.shape[0] and self._group_run[0] > self._run_base:
                cut = int(self._group_run[0]) - self._run_base
                self._run_start, self._run_rotation = self._run_start[cut:], self._run_rotation[cut:]
                self._run_base += cut

    def _evidence(self, st: _Steps, t_end: float, final: bool) -> None:
        """``p_live`` and ``p_right`` of the steps whose windows are complete (0.5 where there is nothing
        to go on: no gyroscope and a step time not measured or too short, see :class:`SideSettings`)."""
        s = self.settings
        live = np.isnan(st.p_live)
        smoothed = np.isnan(st.p_right) if self.smoothed else np.zeros(len(st), dtype=bool)
        wait = self.settings.reframe_wait_s if self._reframing else 0.0
        if not final:
            live &= st.t_s + st.live_after_s <= t_end
            smoothed &= st.t_s + st.half_s + wait <= t_end
        live, smoothed = np.flatnonzero(live), np.flatnonzero(smoothed)
        if live.size + smoothed.size == 0:
            return
        st.p_live[live] = 0.5
        st.p_right[smoothed] = 0.5
        live, smoothed = live[st.usable[live]], smoothed[st.usable[smoothed]]
        both = np.concatenate([live, smoothed])
        t_ic = st.t_s[both]
        # live: [t - before, t + live_after); smoothed: the rest of its window after the live one (shared)
        # or [t - half, t + half)
        rest_from = st.live_after_s[smoothed] if self._share else -st.half_s[smoothed]
        from_s = t_ic + np.concatenate([-st.live_before_s[live], rest_from])
        to_s = t_ic + np.concatenate([st.live_after_s[live], st.half_s[smoothed]])
        count, sums = window_sums(
            self._group_t, self._group_signals, t_ic, st.step_s[both], from_s, to_s, self._group_last_t
        )
        st.live_count[live], st.live_sums[live] = count[: live.size], sums[: live.size]
        if self._share:
            count[live.size :] += st.live_count[smoothed]
            sums[live.size :] += st.live_sums[smoothed]
        reframed = self._reframed(t_ic[live.size :], st.step_s[smoothed], st.half_s[smoothed], wait)
        for j, (n, sum_j) in reframed:
            count[live.size + j], sums[live.size + j] = n, sum_j
        weights = s.weights_gyr if self._has_gyr else s.weights_acc_only
        p = _logistic(phases_from_sums(count, sums), weights)
        st.p_live[live], st.p_right[smoothed] = p[: live.size], p[live.size :]

    def _reframed(
        self, t_ic: FloatArray, step_s: FloatArray, half_s: FloatArray, wait_s: float
    ) -> list[tuple[int, tuple[float, FloatArray]]]:
        """(position, (count, sums)) of the smoothed windows ``[t - half, t + half)`` that must be rotated
        into the frame in effect ``wait_s`` after them (see "The frame at the start of a walk"): only
        windows whose groups or reference span more than one frame run are looked at, so this costs
        nothing once the frame is settled."""
        run, edge = self._group_run, self._group_last_t
        if self._run_start.shape[0] < 2 or run.shape[0] == 0:  # one frame run: nothing to rotate
            return []
        lo = np.searchsorted(edge, t_ic - half_s)
        hi = np.searchsorted(edge, t_ic + half_s)
        # the reference: the run in effect at the last sample before the window's end plus wait_s (runs
        # only follow one another, so a window whose first group is in it lies in it whole)
        at = self._start + np.searchsorted(self._t, t_ic + half_s + wait_s) - 1
        ref_run = np.searchsorted(self._run_start, at, side="right") - 1
        first_run = run[np.minimum(lo, run.shape[0] - 1)]
        spans = (hi > lo) & (first_run >= 0) & (first_run - self._run_base != ref_run)
        out = []
        cos_min = np.cos(np.radians(self.settings.reframe_min_deg))
        for j in np.flatnonzero(spans).tolist():
            a, b = int(lo[j]), int(hi[j])
            rotations = self._run_rotation[run[a:b] - self._run_base]  # (groups, 3, 3)
            ref = self._run_rotation[ref_run[j]]
            used = self._run_rotation[run[a] - self._run_base : ref_run[j] + 1]
            if np.all((np.einsum("kij,ij->k", used, ref) - 1.0) / 2.0 >= cos_min):
                continue
            cue, other = self._group_signals[a:b], self._group_others[a:b]
            correction = ref @ rotations.transpose(0, 2, 1)  # sensor → reference, per group
            acc = np.column_stack([other[:, 0], other[:, 1], cue[:, -1]])
            signals = np.einsum("kij,kj->ki", correction[:, 2:], acc)  # ml acceleration
            if self._has_gyr:
                gyr = np.column_stack([cue[:, 0], cue[:, 1], other[:, 2]])
                rotated = np.einsum("kij,kj->ki", correction, gyr)
                signals = np.column_stack([rotated[:, AP], rotated[:, V], signals])
            one = np.array([t_ic[j]]), np.array([step_s[j]])
            count, sums = window_sums(
                self._group_t[a:b], signals, *one, one[0] - half_s[j], one[0] + half_s[j], edge[a:b]
            )
            out.append((j, (float(count[0]), sums[0])))
        return out

    def _commit_live(self) -> list[StepSide]:
        """Filter (forward only) every step whose live evidence is in, in order."""
        st = self._steps
        if st is None:
            return []
        first = self._n_live - self._n_forgotten
        waiting = np.flatnonzero(np.isnan(st.p_live[first:]))
        last = first + int(waiting[0]) if waiting.size else len(st)
        if last == first:
            return []
        post = filter_run(self._live_right, st.p_live[first:last], st.alternation[first:last])
        self._live_right = post[-1]
        self._n_live += last - first
        return self._sides(st, slice(first, last), np.array(post), st.p_live[first:last])

    def _sides(self, st: _Steps, at: slice, post: FloatArray, evidence: FloatArray) -> list[StepSide]:
        conf = np.maximum(post, 1.0 - post)
        side = np.where(conf < self.settings.unsure_below, "?", np.where(post >= 0.5, "R", "L"))
        columns = st.index[at], st.t_s[at], side, post, conf, evidence
        return list(map(StepSide, *(c.tolist() for c in columns)))

    def _commit_both(self, final: bool) -> list[StepSide]:
        live = self._commit_live()
        if self.smoothed:
            self._smoothed += self._commit_smoothed(final)
        keep_from = self._n_live
        if self.smoothed:
            keep_from = min(keep_from, self._n_smoothed)
        if keep_from > self._n_forgotten and self._steps is not None:
            self._steps = self._steps.since(keep_from - self._n_forgotten)
            self._n_forgotten = keep_from
        return live

    def _commit_smoothed(self, final: bool) -> list[StepSide]:
        """The fixed-lag smoother: the forward filter over every step whose smoothed evidence is in (in
        order, carried from block to block like the live filter), then for each step with
        ``look_ahead_steps`` filtered steps after it (all of them at the end) the backward message from
        those, all committable steps at once."""
        s = self.settings
        st = self._steps
        if st is None:
            return []
        done = self._n_filtered - self._n_forgotten
        waiting = np.flatnonzero(np.isnan(st.p_right[done:]))
        n_ready = done + int(waiting[0]) if waiting.size else len(st)
        if n_ready > done:
            filtered = filter_run(
                self._smoothed_right, st.p_right[done:n_ready], st.alternation[done:n_ready]
            )
            st.filtered_right[done:n_ready] = filtered
            self._smoothed_right = filtered[-1]
            self._n_filtered = n_ready + self._n_forgotten
        first = self._n_smoothed - self._n_forgotten
        last = n_ready if final else n_ready - s.look_ahead_steps
        if last <= first:
            return []
        later = np.arange(first, last)[:, None] + 1 + np.arange(s.look_ahead_steps)[None, :]
        at = np.minimum(later, n_ready - 1)
        p_after = np.where(later < n_ready, st.p_right[at], np.nan)
        post = lagged_posteriors(st.filtered_right[first:last], p_after, st.alternation[at])
        self._n_smoothed = last + self._n_forgotten
        return self._sides(st, slice(first, last), post, st.p_right[first:last])


@dataclass
class _Steps:
    """The held steps as columns (see :class:`SideStage`)."""

    index: NDArray[np.int64]
    t_s: FloatArray
    step_s: FloatArray
    alternation: FloatArray
    usable: NDArray[np.bool_]
    """Whether the cues may be used (always with a gyroscope; see ``acc_only_min_step_s``)."""
    live_before_s: FloatArray
    live_after_s: FloatArray
    half_s: FloatArray
    """Seconds before/after the contact of the evidence windows (:meth:`SideSettings.window_s`)."""
    p_live: FloatArray
    p_right: FloatArray
    """Each step's own evidence for the live and the smoothed side (``nan`` until computed)."""
    filtered_right: FloatArray
    """The smoothed side's forward filter at each step (``nan`` until computed)."""
    live_count: FloatArray
    live_sums: FloatArray
    """The live window's :func:`window_sums`: the start of the smoothed window (see ``_evaluate``)."""

    @classmethod
    def new(
        cls,
        n_sums: int,
        index: NDArray[np.int64],
        t_s: FloatArray,
        step_s: FloatArray,
        alternation: FloatArray,
        usable: NDArray[np.bool_],
        windows_s: tuple[FloatArray, FloatArray, FloatArray],
    ) -> _Steps:
        """New steps, nothing computed yet; ``windows_s``: live before, live after, smoothed half-width."""
        n = t_s.shape[0]
        nan = np.full(n, np.nan)
        before, after, half = windows_s
        return cls(
            index,
            t_s,
            step_s,
            alternation,
            usable,
            before,
            after,
            half,
            nan,
            nan.copy(),
            nan.copy(),
            np.zeros(n),
            np.zeros((n, n_sums)),
        )

    def __len__(self) -> int:
        return int(self.t_s.shape[0])

    @classmethod
    def concat(cls, a: _Steps, b: _Steps) -> _Steps:
        return cls(*map(np.concatenate, zip(a.columns(), b.columns(), strict=True)))

    def since(self, k: int) -> _Steps:
        return _Steps(*(column[k:] for column in self.columns()))

    def columns(self) -> tuple[np.ndarray, ...]:
        """The fields in order (``dataclasses.fields`` is looked up once, below: it is slow per call)."""
        return tuple(getattr(self, name) for name in _STEP_FIELDS)


_STEP_FIELDS = tuple(f.name for f in fields(_Steps))
