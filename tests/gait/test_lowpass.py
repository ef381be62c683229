"""Linear-phase FIR low-pass: bit-identical for any chunking (exact integer sums), close to the plain
floating-point convolution, NaN kept local, bad cut-offs refused."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.signal import firwin

from imu.errors import InputError
from imu.gait.lowpass import INPUT_LIMIT, INPUT_QUANTUM, TAP_BITS, LinearPhaseLowPass, windowed_sinc


def chunked(lp: LinearPhaseLowPass, x: np.ndarray, sizes: list[int]) -> np.ndarray:
    out, i = [], 0
    for size in sizes:
        out.append(lp.update(x[i : i + size]))
        i += size
    out.append(lp.update(x[i:]))
    return np.concatenate(out)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    scale=st.sampled_from([1e-3, 1.0, 30.0, 3000.0]),
    sizes=st.lists(st.one_of(st.integers(0, 1), st.integers(0, 70), st.integers(0, 900)), max_size=40),
)
def test_any_chunking_is_bit_identical(seed: int, scale: float, sizes: list[int]) -> None:
    x = np.random.default_rng(seed).normal(0.0, scale, (2000, 3))
    make = lambda: LinearPhaseLowPass((20.0, 5.0, 2.5, 10.0), 208.0, 0.6, inputs=(0, 1, 2, 0))  # noqa: E731
    assert np.array_equal(chunked(make(), x, sizes), make().update(x))


def test_matches_the_floating_point_convolution() -> None:
    rate_hz, cutoff_hz = 200.0, 10.0
    x = 9.81 + np.cumsum(np.random.default_rng(1).normal(0.0, 0.3, 3000))
    y = LinearPhaseLowPass((cutoff_hz,), rate_hz, 0.2).update(x)[:, 0]
    taps = firwin(41, cutoff_hz, fs=rate_hz)
    ref = np.convolve(np.concatenate([np.full(40, x[0]), x]), taps, mode="valid")
    assert np.max(np.abs(y - ref)) < 1e-5 * np.max(np.abs(x))
    assert np.max(np.abs(y - ref)) > 0  # rounded, not the same arithmetic


@pytest.mark.parametrize("rate_hz", [50.0, 100.0, 128.0, 200.0, 208.0, 500.0])
def test_taps_are_the_window_method_as_firwin_designs_it(rate_hz: float) -> None:
    """The numpy design gives scipy.signal.firwin's taps (Hamming window, unit gain at 0 Hz) to rounding,
    and the same integer taps once rounded to 2**-TAP_BITS."""
    for length_s in (0.1, 0.3, 0.6):
        length = max(3, round(length_s * rate_hz) | 1)
        for cutoff_hz in np.linspace(0.5, 0.45 * rate_hz, 25):
            ours = windowed_sinc(length, cutoff_hz / (rate_hz / 2))
            ref = firwin(length, cutoff_hz, fs=rate_hz)
            assert np.max(np.abs(ours - ref)) < 1e-14
            assert np.array_equal(np.rint(ours * 2.0**TAP_BITS), np.rint(ref * 2.0**TAP_BITS))


def test_delay_and_gain() -> None:
    lp = LinearPhaseLowPass((5.0,), 100.0, 0.2)
    assert lp.delay_samples == 10
    step = lp.update(np.r_[np.zeros(50), np.ones(100)])[:, 0]
    assert step[-1] == pytest.approx(1.0, abs=1e-5)
    impulse = LinearPhaseLowPass((5.0,), 100.0, 0.2).update(np.r_[np.zeros(50), 1.0, np.zeros(50)])[:, 0]
    assert int(np.argmax(impulse)) == 50 + lp.delay_samples
    assert np.allclose(impulse[50:71], impulse[50:71][::-1], atol=1e-6)


def test_non_finite_input_stays_local_and_large_input_is_clipped() -> None:
    x = np.zeros(400)
    x[200] = np.nan
    x[300] = 1e9
    lp = LinearPhaseLowPass((5.0,), 100.0, 0.2)
    y = np.concatenate([lp.update(x[:205]), lp.update(x[205:])])[:, 0]
    assert np.flatnonzero(np.isnan(y)).tolist() == list(range(200, 221))
    assert np.nanmax(y) <= INPUT_LIMIT


@pytest.mark.parametrize("cutoff", [0.0, 50.0, 80.0])
def test_cutoff_at_or_above_nyquist_is_refused(cutoff: float) -> None:
    with pytest.raises(InputError, match="Nyquist"):
        LinearPhaseLowPass((cutoff,), 100.0, 0.2)


def test_nan_in_one_input_column_spoils_only_its_channels_and_rounding_is_to_the_quantum() -> None:
    x = np.random.default_rng(3).normal(0.0, 5.0, (300, 2))
    x[150, 1] = np.nan
    lp = LinearPhaseLowPass((5.0, 10.0, 20.0), 100.0, 0.2, inputs=(0, 1, 0))
    y = np.concatenate([lp.update(x[:100]), lp.update(x[100:])])
    assert not np.isnan(y[:, [0, 2]]).any()
    assert np.flatnonzero(np.isnan(y[:, 1])).tolist() == list(range(150, 171))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), ties=st.booleans())
def test_equals_the_exact_integer_convolution(seed: int, ties: bool) -> None:
    """Bit for bit the convolution of the inputs rounded half to even to INPUT_QUANTUM (np.rint) with the
    integer taps, summed in int64, then scaled: the float arithmetic loses nothing."""
    rng = np.random.default_rng(seed)
    x: np.ndarray = rng.normal(0.0, 40.0, 700)
    if ties:  # exact halfway cases between two multiples of the quantum, and values beyond the clip
        x = (rng.integers(-(2**20), 2**20, 700) + 0.5) * INPUT_QUANTUM
        x[::50] = rng.choice([-1.0, 1.0], 14) * 5000.0
    lp = LinearPhaseLowPass((5.0, 30.0), 208.0, 0.2)
    q = np.rint(np.clip(x, -INPUT_LIMIT, INPUT_LIMIT) / INPUT_QUANTUM).astype(np.int64)
    padded = np.concatenate([np.full(lp.taps.shape[0] - 1, q[0]), q])
    y = lp.update(x)
    for j in range(2):
        exact = np.convolve(padded, lp.taps[:, j].astype(np.int64), mode="valid")
        ref = exact * (INPUT_QUANTUM * 2.0**-TAP_BITS)
        assert np.array_equal(y[:, j], ref)


def test_too_few_input_columns_are_refused() -> None:
    lp = LinearPhaseLowPass((5.0, 10.0), 100.0, 0.2, inputs=(0, 1))
    with pytest.raises(InputError, match="input column"):
        lp.update(np.zeros(50))
    with pytest.raises(InputError, match="input column"):
        lp.update(np.zeros((50, 1)))
