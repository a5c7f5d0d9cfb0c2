"""tracker: keeps the promises a delegation brings home from international meetings."""

__version__ = "0.1.0"
