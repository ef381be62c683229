"""Typed tables of equal-length numpy columns: what the gait stages emit.

A stage's output is a small table per ``update`` call; :meth:`ColumnTable.concat` joins them and
:meth:`ColumnTable.equals` checks the streaming == batch contract bit for bit (NaN equal to NaN). A table
declares its columns twice on purpose: as dataclass fields (names and types for readers and mypy) and in
``DTYPES`` (the numpy dtype each column is cast to, in field order), so an empty table is typed too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd

from imu.errors import InputError


@dataclass(frozen=True, eq=False)
class ColumnTable:
    """Equal-length 1-D columns with fixed dtypes (``DTYPES``), typed also when empty."""

    DTYPES: ClassVar[dict[str, Any]] = {}
    TEXT: ClassVar[tuple[str, ...]] = ()
    """Columns that :meth:`to_frame` gives as Python strings."""

    def __post_init__(self) -> None:
        n = None
        for f in fields(self):
            col = np.ascontiguousarray(getattr(self, f.name), dtype=self.DTYPES[f.name])
            if col.ndim != 1 or (n is not None and col.shape[0] != n):
                raise InputError(
                    f"column {f.name} has the wrong shape", expected=f"({n},)", found=str(col.shape)
                )
            n = col.shape[0]
            object.__setattr__(self, f.name, col)

    @classmethod
    def empty(cls) -> Self:
        return cls(**{name: np.empty(0, dtype) for name, dtype in cls.DTYPES.items()})

    @classmethod
    def from_rows(cls, rows: Sequence[dict[str, Any]]) -> Self:
        if not rows:
            return cls.empty()
        return cls(**{name: np.array([r[name] for r in rows], dtype) for name, dtype in cls.DTYPES.items()})

    @classmethod
    def concat(cls, tables: Sequence[Self]) -> Self:
        if not tables:
            return cls.empty()
        return cls(**{name: np.concatenate([getattr(t, name) for t in tables]) for name in cls.DTYPES})

    def __len__(self) -> int:
        return int(getattr(self, next(iter(self.DTYPES))).shape[0])

    def to_frame(self) -> pd.DataFrame:
        """A DataFrame with fixed dtypes (text columns as strings), also when empty."""
        frame = pd.DataFrame({name: getattr(self, name) for name in self.DTYPES})
        for name in self.TEXT:
            frame[name] = frame[name].astype(object)
        return frame

    def equals(self, other: ColumnTable) -> bool:
        """Bit-identical columns (NaN equal to NaN): the streaming == batch contract."""
        return type(other) is type(self) and all(
            np.array_equal(getattr(self, name), getattr(other, name), equal_nan=np.dtype(dtype) == np.float64)
            for name, dtype in self.DTYPES.items()
        )
