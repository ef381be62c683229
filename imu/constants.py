"""Units, frames and column names: the one place they are defined.

Units live in names (``_s``, ``_hz``, ``_deg``, ``_g``, ``_spm``, ``_pct``, ``_ms2``). At the API boundary
acceleration is m/s² *including gravity* (what an accelerometer measures) and angular rate is deg/s;
impacts are reported in g.

Frames
======

Sensor frame: whatever the device reports, columns ``acc_x acc_y acc_z gyr_x gyr_y gyr_z``.

Body frame (ISB pelvis), found from the data or stated by the user:

==========  ==========================  =========================================================
axis        direction                   expected signal while running upright
==========  ==========================  =========================================================
``ap``      forward (running direction) acc_ap: braking (negative) just after initial contact,
                                        propulsion (positive) late in stance; mean ≈ 0
``v``       up (against gravity)        acc_v: ≈ +1 g at rest (+9.81 m/s²); peaks 2–4 g at impact,
                                        ≈ 0 g in flight
``ml``      to the runner's right       acc_ml: mean ≈ 0; alternates sign step to step
==========  ==========================  =========================================================

Angular rates follow the right-hand rule about each body axis: ``gyr_ml`` positive lifts the front of
the pelvis (posterior tilt), so the anterior tilt rate is ``-gyr_ml``; ``gyr_ap`` positive is the right side
dropping; ``gyr_v`` positive is rotation to the left (counter-clockwise seen from above). Tilting forward by
an angle θ shows gravity as ``acc_ap = -g·sin θ`` on a sensor fixed to the pelvis.

Sides are ``L`` / ``R``. ``impact_asymmetry_pct = 100 * (L - R) / ((L + R) / 2)`` is positive when the
left side hits harder. Pelvic tilt is positive anterior.
"""

from typing import Final

STANDARD_GRAVITY_MS2: Final = 9.80665
"""Standard gravity, m/s² per g (CGPM 1901)."""

SENSOR_ACC_COLUMNS: Final = ("acc_x", "acc_y", "acc_z")
SENSOR_GYR_COLUMNS: Final = ("gyr_x", "gyr_y", "gyr_z")
SENSOR_COLUMNS: Final = SENSOR_ACC_COLUMNS + SENSOR_GYR_COLUMNS
TIME_COLUMN: Final = "t_s"

BODY_ACC_COLUMNS: Final = ("acc_ap", "acc_v", "acc_ml")
BODY_GYR_COLUMNS: Final = ("gyr_ap", "gyr_v", "gyr_ml")

SIDES: Final = ("L", "R")

MIN_RATE_HZ: Final = 50.0
"""Below this sampling rate a running step (contact ≈ 0.2 s, impact transient ≈ 30 ms) cannot be resolved."""

GAP_FACTOR: Final = 1.5
"""A sample interval longer than this many nominal periods is a gap (lost samples), never spread over."""

PLAUSIBLE_ACC_LIMIT_MS2: Final = 50 * STANDARD_GRAVITY_MS2
"""No body-worn sensor range exceeds ±32 g; larger magnitudes mean wrong units (e.g. mg or raw counts)."""

PLAUSIBLE_GYR_LIMIT_DPS: Final = 5000.0
"""No consumer gyroscope range exceeds ±4000 deg/s; larger magnitudes mean wrong units."""
