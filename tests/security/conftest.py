"""The fixtures of the security tests: the whole app of tests/test_dashboard.py, reused."""

from __future__ import annotations

from tests.test_dashboard import app, clock

__all__ = ["app", "clock"]
