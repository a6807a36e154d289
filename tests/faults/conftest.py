"""Fixtures of the fault tests (see ``tests.faults.support``)."""

from tests.faults.support import deploy

__all__ = ["deploy"]
