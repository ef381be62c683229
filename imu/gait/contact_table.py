"""The typed table of foot contacts (steps) a contact detector emits.

One row per contact, in time order. Indices are absolute sample indices (int64) of the recording; times
are on the recording's own axis and interpolated between samples where the rule finds a crossing between
two samples, so ``ic_t_s`` is not always ``t_s[ic_index]``.

Per-step figures and what they refer to:

- ``contact_time_s``: initial contact (IC) → toe-off (TO) of this contact.
- ``flight_time_s``: the flight *before* this contact (previous TO → this IC); NaN for the first contact
  or when the previous contact is more than a step apart (a pause, a lost detection). Causal on purpose:
  the row is final as soon as its TO is known.
- ``step_time_s``: previous IC → this IC, with the same NaN rule; ``cadence_spm`` = 60 / ``step_time_s``.
- ``impact_g``: the highest unfiltered vertical acceleration sample (g, including gravity) from IC to TO.
- ``loading_rate_g_s``: mean slope of the unfiltered vertical acceleration from 20 % to 80 % of the way
  from the flight floor up to ``impact_g`` (first crossings after the floor), g/s.

Walking detectors fill the IC columns and leave TO-derived columns NaN / -1 where they cannot tell.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from imu.gait.column_table import ColumnTable

NO_INDEX = -1
"""Stands in for an index the detector could not give (e.g. toe-off while walking)."""


@dataclass(frozen=True, eq=False)
class ContactTable(ColumnTable):
    """Columns of equal length; see the module docstring for each figure's meaning and unit."""

    DTYPES: ClassVar[dict[str, Any]] = {
        "ic_index": np.int64,
        "ic_t_s": np.float64,
        "to_index": np.int64,
        "to_t_s": np.float64,
        "contact_time_s": np.float64,
        "flight_time_s": np.float64,
        "step_time_s": np.float64,
        "cadence_spm": np.float64,
        "impact_g": np.float64,
        "loading_rate_g_s": np.float64,
    }

    ic_index: NDArray[np.int64]
    ic_t_s: NDArray[np.float64]
    to_index: NDArray[np.int64]
    to_t_s: NDArray[np.float64]
    contact_time_s: NDArray[np.float64]
    flight_time_s: NDArray[np.float64]
    step_time_s: NDArray[np.float64]
    cadence_spm: NDArray[np.float64]
    impact_g: NDArray[np.float64]
    loading_rate_g_s: NDArray[np.float64]
