"""imu: a running-form lab from a commodity IMU clipped at the lower back."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("imu")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"
