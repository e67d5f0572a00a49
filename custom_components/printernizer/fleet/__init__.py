"""HA glue of the fleet: what spans every printer (long-term statistics so far)."""
