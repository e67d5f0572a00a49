"""The soak runs inside HA's harness, with the integration tests' guards."""

from __future__ import annotations

from ..integration.conftest import _custom_integrations, blocking_calls

__all__ = ["_custom_integrations", "blocking_calls"]
