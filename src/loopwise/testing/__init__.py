"""Test doubles shipped with the package, for loopwise's tests and for code that embeds it."""

from loopwise.testing.clock import FrozenClock

__all__ = ["FrozenClock"]
