"""Streaming pipeline stages: body frame, bouts, steps, sides, impact, pelvis."""
