"""HA glue of the fleet: its entry and migration, its device's sensors, long-term statistics."""
