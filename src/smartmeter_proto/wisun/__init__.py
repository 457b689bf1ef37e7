"""Wi-SUN B-route: dongle protocols (SKSTACK, ROHM J11), 6LoWPAN and PANA."""
