"""Left or right for every step, with a confidence; unsure steps are labelled ``"?"``, never guessed.

Evidence per step (body frame, windows in units of the local step time ``T``, the median of the last
initial-contact intervals, so one rule serves walking and running):

- ``gyr_ap`` (pelvic roll) over ``[0.10 T, 0.27 T]`` after IC: the swing side drops after contact, so the
  roll rate is negative after a right contact (right side rising);
- ``gyr_v`` (yaw) over ``[-0.55 T, 0.36 T]``: the pelvis turns with the leg that reaches forward;
- ``acc_ml`` over ``[-0.10 T, 0.80 T]``: the trunk is pushed away from the stance foot.

Each is taken relative to its mean over ``[-T, T]`` and divided by its standard deviation there (scale
free), and a logistic model turns them into ``p_right``. The weights were fitted on voisard2023 subjects
1–5 (walking; trials 4-1 and 4-2 left out: their labels look swapped) by
``python -m benchmarks.accuracy.sides --tune``; without a gyroscope only ``acc_ml`` is used.

Sides alternate, but a missed or extra contact breaks the alternation, and forcing it made things worse
(FINDINGS.md). So alternation is soft evidence: a two-state hidden Markov model over the steps, where a
step follows the other side with probability ``alternation_prob`` unless the interval is implausible
(longer than ``gap_factor`` step times: a contact may be missing, or shorter than ``min_step_s``: an
extra one), where it is 0.5. A step's posterior is computed by forward–backward over the
``history_steps`` before it and the ``look_ahead_steps`` after it, and committed then: the look-ahead is a
fixed number of steps (plus ``T`` of samples for the last one's evidence). A step whose posterior is
below ``unsure_below`` gets side ``"?"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from imu.errors import InputError
from imu.gait.body_block import AP, ML, BodyBlock, V
from imu.samples import FloatArray


@dataclass(frozen=True)
class SideSettings:
    """Windows in step times (see the module docstring); weights of the logistic evidence model."""

    roll_window: tuple[float, float] = (0.10, 0.27)
    yaw_window: tuple[float, float] = (-0.55, 0.36)
    ml_window: tuple[float, float] = (-0.10, 0.80)
    weights_gyr: tuple[float, float, float] = (-1.66, 2.51, -2.03)
    """Logistic weights of (roll, yaw, ml acceleration) with a gyroscope; fitted on voisard subjects 1–5."""
    weight_acc_only: float = -7.55
    """Logistic weight of the ml acceleration without a gyroscope; fitted on voisard subjects 1–5."""
    default_step_s: float = 0.45
    min_step_s: float = 0.2
    max_step_s: float = 1.2
    median_of_steps: int = 5
    alternation_prob: float = 0.9
    gap_factor: float = 1.6
    history_steps: int = 8
    look_ahead_steps: int = 3
    unsure_below: float = 0.9


@dataclass(frozen=True)
class StepSide:
    """The side of the step starting at absolute sample ``index`` (time ``t_s``).

    ``side`` is ``"L"``, ``"R"`` or ``"?"``; ``p_right`` the posterior probability of a right step;
    ``confidence = max(p_right, 1 - p_right)``; ``evidence_p_right`` the step's own evidence alone.
    """

    index: int
    t_s: float
    side: str
    p_right: float
    confidence: float
    evidence_p_right: float


@dataclass
class _Step:
    index: int
    step_s: float
    t_s: float = float("nan")
    p_right: float | None = None
    alternation: float = 0.5


def step_evidence(
    t_s: FloatArray,
    acc: FloatArray,
    gyr: FloatArray | None,
    t_ic_s: float,
    step_s: float,
    settings: SideSettings,
) -> float:
    """``p_right`` of one step from the body-frame samples around it (0.5 when there is nothing to go on)."""
    around = (t_s >= t_ic_s - step_s) & (t_s < t_ic_s + step_s)

    def cue(signal: FloatArray, window: tuple[float, float]) -> float:
        inside = (t_s >= t_ic_s + window[0] * step_s) & (t_s < t_ic_s + window[1] * step_s)
        if inside.sum() < 2 or around.sum() < 4:
            return 0.0
        ref = signal[around]
        sd = float(ref.std())
        return float((signal[inside].mean() - ref.mean()) / sd) if sd > 0 else 0.0

    ml = cue(acc[:, ML], settings.ml_window)
    if gyr is None:
        z = settings.weight_acc_only * ml
    else:
        w = settings.weights_gyr
        z = (
            w[0] * cue(gyr[:, AP], settings.roll_window)
            + w[1] * cue(gyr[:, V], settings.yaw_window)
            + w[2] * ml
        )
    return float(1.0 / (1.0 + np.exp(-z)))


def posterior_right(p_right: FloatArray, alternation: FloatArray) -> FloatArray:
    """Forward–backward over a run of steps: ``alternation[j]`` is P(step j is the other side of j - 1)."""
    n = p_right.shape[0]
    emit = np.column_stack([1.0 - p_right, p_right])
    fwd = np.empty((n, 2))
    bwd = np.ones((n, 2))
    fwd[0] = emit[0] * 0.5
    fwd[0] /= fwd[0].sum()
    for j in range(1, n):
        a = alternation[j]
        trans = np.array([[1 - a, a], [a, 1 - a]])
        fwd[j] = emit[j] * (fwd[j - 1] @ trans)
        fwd[j] /= fwd[j].sum()
    for j in range(n - 2, -1, -1):
        a = alternation[j + 1]
        trans = np.array([[1 - a, a], [a, 1 - a]])
        bwd[j] = trans @ (emit[j + 1] * bwd[j + 1])
        bwd[j] /= bwd[j].sum()
    post = fwd * bwd
    return np.asarray(post[:, 1] / post.sum(axis=1))


class SideStage:
    """Body-frame blocks and initial-contact indices in, committed :class:`StepSide` lists out.

    ``update(block, ic_indices)``: ``ic_indices`` are absolute sample indices of initial contacts found so
    far (increasing, each reported once, possibly lying in earlier blocks still within the last
    ``max_step_s`` of samples). ``flush()`` commits the remaining steps with the look-ahead they have.
    """

    def __init__(self, rate_hz: float, settings: SideSettings | None = None):
        if not np.isfinite(rate_hz) or rate_hz <= 0:
            raise InputError("the sampling rate must be positive", expected="rate_hz > 0", found=str(rate_hz))
        self.settings = settings or SideSettings()
        self.rate_hz = float(rate_hz)
        self._t = np.empty(0)
        self._acc = np.empty((0, 3))
        self._gyr: FloatArray | None = None
        self._has_gyr: bool | None = None
        self._start = 0
        self._started = False
        self._steps: list[_Step] = []
        self._next_commit = 0
        self._committed: list[StepSide] = []

    @property
    def look_ahead_s(self) -> float:
        """Worst case: ``look_ahead_steps`` of the longest step plus the evidence span (``T``) of the last."""
        s = self.settings
        return (s.look_ahead_steps + 1.0) * s.max_step_s

    def update(self, block: BodyBlock, ic_indices: Sequence[int] | np.ndarray = ()) -> list[StepSide]:
        self._append(block)
        self._add_contacts(np.asarray(ic_indices, dtype=np.int64))
        self._evaluate(final=False)
        return self._commit(final=False)

    def flush(self) -> list[StepSide]:
        self._evaluate(final=True)
        return self._commit(final=True)

    # ------------------------------------------------------------------ internals
    def _append(self, block: BodyBlock) -> None:
        if len(block) == 0:
            return
        if self._has_gyr is None:
            self._has_gyr = block.gyr is not None
            self._gyr = np.empty((0, 3)) if self._has_gyr else None
        if (block.gyr is not None) != self._has_gyr:
            raise InputError(
                "the gyroscope cannot appear or vanish mid-stream",
                expected="all blocks with or all without angular rate",
            )
        if not self._started:
            self._started, self._start = True, block.start_index
        elif block.start_index != self._start + len(self._t):
            raise InputError(
                "blocks must be consecutive",
                expected=f"start_index {self._start + len(self._t)}",
                found=str(block.start_index),
            )
        self._t = np.concatenate([self._t, block.t_s])
        self._acc = np.concatenate([self._acc, block.acc])
        if self._gyr is not None and block.gyr is not None:
            self._gyr = np.concatenate([self._gyr, block.gyr])

    def _add_contacts(self, ics: np.ndarray) -> None:
        s = self.settings
        for index in ics.tolist():
            last = self._steps[-1].index if self._steps else None
            if last is not None and index <= last:
                raise InputError(
                    "initial contacts must increase", expected=f"an index after {last}", found=str(index)
                )
            if not self._started or not self._start <= index < self._start + len(self._t):
                raise InputError(
                    "an initial contact outside the samples held",
                    expected=f"index in [{self._start}, {self._start + len(self._t)})",
                    found=str(index),
                )
            t_ic = float(self._t[index - self._start])
            step_s = s.default_step_s
            alternation = 0.5
            if self._steps:
                recent = np.array([st.t_s for st in self._steps[-s.median_of_steps :]] + [t_ic])
                intervals = np.diff(recent)
                ok = intervals[(intervals >= s.min_step_s) & (intervals <= s.max_step_s)]
                if ok.size:
                    step_s = float(np.median(ok))
                gap = intervals[-1]
                if s.min_step_s <= gap <= s.gap_factor * step_s:
                    alternation = s.alternation_prob
            self._steps.append(_Step(index, step_s, t_ic, None, alternation))

    def _evaluate(self, final: bool) -> None:
        """Evidence for each step whose samples up to the end of its windows have arrived."""
        s = self.settings
        t_end = self._t[-1] if len(self._t) else -np.inf
        reach = max(s.roll_window[1], s.yaw_window[1], s.ml_window[1], 1.0)  # the reference spans ± T
        for st in self._steps:
            if st.p_right is not None:
                continue
            if not final and t_end < st.t_s + reach * st.step_s:
                break
            st.p_right = step_evidence(self._t, self._acc, self._gyr, st.t_s, st.step_s, s)
        keep_from = self._next_commit - s.history_steps
        oldest = self._steps[max(0, keep_from)].t_s if self._steps[max(0, keep_from) :] else t_end
        pending_first = next((st.t_s for st in self._steps if st.p_right is None), t_end)
        horizon = min(oldest, pending_first) - 2 * s.max_step_s
        drop = int(np.searchsorted(self._t, horizon))
        if drop > 0:
            self._t, self._acc = self._t[drop:], self._acc[drop:]
            if self._gyr is not None:
                self._gyr = self._gyr[drop:]
            self._start += drop

    def _commit(self, final: bool) -> list[StepSide]:
        s = self.settings
        ready = [st.p_right is not None for st in self._steps]
        n_ready = ready.index(False) if False in ready else len(ready)
        out: list[StepSide] = []
        while self._next_commit < n_ready and (final or self._next_commit + s.look_ahead_steps < n_ready):
            i = self._next_commit
            lo, hi = max(0, i - s.history_steps), min(n_ready, i + s.look_ahead_steps + 1)
            run = self._steps[lo:hi]
            p = np.array([st.p_right for st in run], dtype=np.float64)
            alt = np.array([st.alternation for st in run])
            post = float(posterior_right(p, alt)[i - lo])
            conf = max(post, 1.0 - post)
            side = "?" if conf < s.unsure_below else ("R" if post >= 0.5 else "L")
            st = self._steps[i]
            out.append(StepSide(st.index, st.t_s, side, post, conf, float(st.p_right or 0.5)))
            self._next_commit += 1
        return out
