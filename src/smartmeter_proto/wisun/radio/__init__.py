"""The over-the-air stack of the B-route: IEEE 802.15.4, 6LoWPAN, IPv6/UDP, PANA, pcap.

A HEMS never speaks it (the dongle does); the emulators and the decoders do.
"""
