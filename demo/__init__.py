"""A real Home Assistant with simulated printers in one command: `python -m demo`."""
