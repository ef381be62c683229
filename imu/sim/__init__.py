"""A simulated runner: a lower-back sensor during running, with its ground truth."""
