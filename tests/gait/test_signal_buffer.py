"""The signal buffer's running maximum (peak finding without scipy.ndimage)."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view

from imu.gait.signal_buffer import _running_max


@given(
    st.lists(st.sampled_from([-np.inf, -1.0, 0.0, 0.5, 1.0, 2.0, 3.5, np.nan]), min_size=1, max_size=120),
    st.integers(min_value=1, max_value=40),
)
def test_running_max_equals_the_windowed_maximum(values: list[float], w: int) -> None:
    """Ties, -inf padding, NaN and windows as long as the signal: the same as taking each window's maximum."""
    x = np.asarray(values)
    if w > x.shape[0]:
        w = x.shape[0]
    expected = sliding_window_view(x, w).max(axis=1)
    np.testing.assert_array_equal(_running_max(x, w), expected)
