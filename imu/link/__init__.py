"""Where bytes come from (Bluetooth LE, a virtual sensor, a file replay) and the clock that times them."""
