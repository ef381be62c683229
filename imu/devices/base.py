"""What every protocol decoder returns, and the error it raises for a bad notification."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol

import numpy as np
from numpy.typing import NDArray

from imu.errors import InputError

FloatArray = NDArray[np.float64]


class DecodeError(InputError):
    """A notification that does not follow the protocol (truncated, wrong type, bad checksum...).

    A live stream counts and skips these; a file reader reports them with the record's position.
    """


@dataclass(frozen=True, eq=False)
class SensorFrame:
    """Samples decoded from one notification, still on the device's clock.

    ``acc`` is (N, 3) m/s² including gravity and ``gyr`` (N, 3) deg/s, in the sensor frame; either may
    be ``None`` when the frame carries only the other (Polar sends them in separate frames), and when both
    are present they have the same N. ``device_time_s`` is the device timestamp of the frame's LAST sample
    in seconds (``None`` when the protocol has no timestamp); ``seq`` is the protocol's packet sequence
    number where it has one; ``rate_hz`` the sampling rate the device was configured for.
    """

    acc: FloatArray | None
    gyr: FloatArray | None
    device_time_s: float | None
    seq: int | None
    rate_hz: float | None

    @property
    def n_samples(self) -> int:
        arr = self.acc if self.acc is not None else self.gyr
        return 0 if arr is None else int(arr.shape[0])


class Decoder(Protocol):
    """A stateful decoder for one device's notification stream (state: reassembly buffers, settings)."""

    protocol: ClassVar[str]

    def decode(self, payload: bytes, channel: int = 0) -> list[SensorFrame]:
        """Frames in one notification; raises :class:`DecodeError` when the bytes are malformed."""
        ...
