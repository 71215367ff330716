"""dwell: taps a shop assistant's watch when a visitor plausibly wants help — and never before."""

__version__ = "0.1.0"
