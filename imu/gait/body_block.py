"""A block of samples in the body frame: what the gait stages after the frame stage consume.

Same shape as :class:`imu.samples.SampleBlock`, but the columns are the ISB pelvis axes
(:data:`imu.constants.BODY_ACC_COLUMNS`, :data:`imu.constants.BODY_GYR_COLUMNS`): ``acc`` (N, 3) is
``acc_ap, acc_v, acc_ml`` in m/s² including gravity (standing still, ``acc_v`` ≈ +9.81), ``gyr`` (N, 3) is
``gyr_ap, gyr_v, gyr_ml`` in deg/s or ``None``. It is a separate type so a sensor-frame block can never be
passed where the vertical axis is assumed known.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from imu.errors import InputError
from imu.samples import FloatArray

AP, V, ML = 0, 1, 2
"""Column positions of the body axes in ``acc`` and ``gyr``."""


@dataclass(frozen=True, eq=False)
class BodyBlock:
    """Contiguous body-frame samples; ``start_index`` is the absolute index of the first sample."""

    t_s: FloatArray
    acc: FloatArray
    gyr: FloatArray | None = None
    start_index: int = 0

    def __post_init__(self) -> None:
        t = np.ascontiguousarray(self.t_s, dtype=np.float64)
        acc = np.ascontiguousarray(self.acc, dtype=np.float64)
        n = t.shape[0] if t.ndim == 1 else -1
        if n < 0:
            raise InputError("time must be one-dimensional", expected="shape (N,)", found=f"shape {t.shape}")
        if acc.shape != (n, 3):
            raise InputError(
                "body acceleration has the wrong shape", expected=f"({n}, 3)", found=str(acc.shape)
            )
        gyr = None if self.gyr is None else np.ascontiguousarray(self.gyr, dtype=np.float64)
        if gyr is not None and gyr.shape != (n, 3):
            raise InputError(
                "body angular rate has the wrong shape", expected=f"({n}, 3)", found=str(gyr.shape)
            )
        if n > 1 and not np.all(np.diff(t) > 0):
            raise InputError(
                "time must increase strictly", expected="increasing t_s", found="a step back or repeat"
            )
        object.__setattr__(self, "t_s", t)
        object.__setattr__(self, "acc", acc)
        object.__setattr__(self, "gyr", gyr)
        object.__setattr__(self, "start_index", int(self.start_index))

    def __len__(self) -> int:
        return int(self.t_s.shape[0])

    @property
    def stop_index(self) -> int:
        """Absolute index one past the block's last sample."""
        return self.start_index + len(self)

    def slice(self, start: int, stop: int) -> BodyBlock:
        """Samples ``[start, stop)`` counted within this block."""
        return BodyBlock(
            self.t_s[start:stop],
            self.acc[start:stop],
            None if self.gyr is None else self.gyr[start:stop],
            self.start_index + max(0, min(start, len(self))),
        )

    def chunks(self, sizes: Iterable[int]) -> Iterator[BodyBlock]:
        """Cut into consecutive blocks of the given sizes (the rest as a last block)."""
        i = 0
        for size in sizes:
            yield self.slice(i, i + size)
            i += size
        if i < len(self):
            yield self.slice(i, len(self))
