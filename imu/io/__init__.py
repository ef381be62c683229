"""Recordings on disk: the session format (lossless, crash-safe) and importers for researchers' files."""
