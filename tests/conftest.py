"""Shared fixtures: simulators run on 127.0.0.1, so socket tests opt in via socket_enabled."""
