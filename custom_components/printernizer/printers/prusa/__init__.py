"""Prusa printers over PrusaLink (Buddy firmware or Prusa-Link on a Raspberry Pi)."""
