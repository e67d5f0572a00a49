"""Simulator tests talk to the simulator over real sockets on 127.0.0.1."""

import pytest


@pytest.fixture(autouse=True)
def _sockets(socket_enabled: None) -> None:
    """Every simulator test uses real loopback sockets."""
