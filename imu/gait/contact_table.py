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

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from imu.errors import InputError

INDEX_COLUMNS = ("ic_index", "to_index")
NO_INDEX = -1
"""Stands in for an index the detector could not give (e.g. toe-off while walking)."""


@dataclass(frozen=True, eq=False)
class ContactTable:
    """Columns of equal length; see the module docstring for each figure's meaning and unit."""

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

    def __post_init__(self) -> None:
        n = None
        for f in fields(self):
            dtype = np.int64 if f.name in INDEX_COLUMNS else np.float64
            col = np.ascontiguousarray(getattr(self, f.name), dtype=dtype)
            if col.ndim != 1 or (n is not None and col.shape[0] != n):
                raise InputError(
                    f"contact column {f.name} has the wrong shape", expected=f"({n},)", found=str(col.shape)
                )
            n = col.shape[0]
            object.__setattr__(self, f.name, col)

    @classmethod
    def empty(cls) -> ContactTable:
        """The typed empty table."""
        columns: dict[str, Any] = {f.name: np.empty(0) for f in fields(cls)}
        return cls(**columns)

    @classmethod
    def concat(cls, tables: Sequence[ContactTable]) -> ContactTable:
        """Join tables emitted one after another (e.g. the outputs of successive ``update`` calls)."""
        if not tables:
            return cls.empty()
        return cls(**{f.name: np.concatenate([getattr(t, f.name) for t in tables]) for f in fields(cls)})

    @classmethod
    def from_rows(cls, rows: Sequence[dict[str, float]]) -> ContactTable:
        """Build from per-contact dicts keyed by column name (the detectors' natural unit of work)."""
        if not rows:
            return cls.empty()
        return cls(**{f.name: np.array([r[f.name] for r in rows]) for f in fields(cls)})

    def __len__(self) -> int:
        return int(self.ic_index.shape[0])

    def to_frame(self) -> pd.DataFrame:
        """A DataFrame with fixed dtypes (int64 indices, float64 figures), also when empty."""
        return pd.DataFrame({f.name: getattr(self, f.name) for f in fields(self)})

    def equals(self, other: ContactTable) -> bool:
        """Bit-identical columns (NaN equal to NaN): the streaming == batch contract."""
        return all(
            np.array_equal(
                getattr(self, f.name), getattr(other, f.name), equal_nan=f.name not in INDEX_COLUMNS
            )
            for f in fields(self)
        )
