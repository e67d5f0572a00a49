"""Finding printers on the network: the Bambu Lab SSDP listener on UDP 2021.

Prusa printers need nothing of ours here: HA's own DHCP and zeroconf discovery start their flows
from the manifest's matchers.
"""
