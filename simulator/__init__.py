"""Simulated printers for Printernizer's tests, benchmarks and demo."""
