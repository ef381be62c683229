"""Sensor protocols: one module per device, pure functions from notification bytes to samples.

Every decoder returns :class:`imu.devices.base.SensorFrame` objects on the device's own clock; the link's
clock (:mod:`imu.link.clock`) maps them to session time and marks gaps.
"""
