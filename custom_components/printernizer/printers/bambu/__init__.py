"""Bambu Lab printers over their LAN MQTT and FTPS interfaces."""
