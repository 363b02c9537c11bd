"""Fixtures shared by every test directory; the helpers themselves are in tests/support."""

from __future__ import annotations

import pytest

import ws
from tests.support import FACTOR, FACTOR_REASONS
from tests.support import echo_app as _echo_app
from tests.support.timing import ENV


def pytest_report_header(config: pytest.Config) -> str:
    why = ", ".join(FACTOR_REASONS) or "default"
    return f"test timeouts scaled by {FACTOR:g} ({why}; set {ENV} to change)"


@pytest.fixture
def echo_app() -> ws.App:
    """An app with an echo endpoint at /echo (compression on) and ``hello`` at /hello."""
    return _echo_app()
