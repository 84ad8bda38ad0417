"""Test doubles shipped with the package, for loopwise's tests and for code that embeds it."""

from loopwise.testing.clock import FrozenClock
from loopwise.testing.postgres import scratch_database, scratch_schema

__all__ = ["FrozenClock", "scratch_database", "scratch_schema"]
