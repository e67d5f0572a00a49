"""Soak tests: many simulated printers in one Home Assistant, with faults injected."""
