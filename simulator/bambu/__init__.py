"""A simulated Bambu Lab printer: MQTT through mosquitto, implicit FTPS, scenarios."""
