"""Fixtures for tests that run the integration inside Home Assistant's test harness."""

import pytest


@pytest.fixture(autouse=True)
def _custom_integrations(enable_custom_integrations: None) -> None:
    """Let HA load custom_components/printernizer."""
