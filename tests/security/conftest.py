"""Fixtures of the security tests (shared with the fault tests)."""

from tests.faults.support import deploy

__all__ = ["deploy"]
