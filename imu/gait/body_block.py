"""A block of samples in the body frame: what the gait stages after the frame stage consume.

Same shape as :class:`imu.samples.SampleBlock`, but the columns are the ISB pelvis axes
(:data:`imu.constants.BODY_ACC_COLUMNS`, :data:`imu.constants.BODY_GYR_COLUMNS`): ``acc`` (N, 3) is
``acc_ap, acc_v, acc_ml`` in m/s² including gravity (standing still, ``acc_v`` ≈ +9.81), ``gyr`` (N, 3) is
``gyr_ap, gyr_v, gyr_ml`` in deg/s or ``None``. It is a separate type so a sensor-frame block can never be
passed where the vertical axis is assumed known.
"""

from __future__ import annotations

from dataclasses import dataclass

from imu.samples import TimedBlock

AP, V, ML = 0, 1, 2
"""Column positions of the body axes in ``acc`` and ``gyr``."""


@dataclass(frozen=True, eq=False)
class BodyBlock(TimedBlock):
    """Contiguous body-frame samples; ``start_index`` is the absolute index of the first sample."""
