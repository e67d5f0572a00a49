"""End-to-end: the demo stack in a headless Chromium."""
