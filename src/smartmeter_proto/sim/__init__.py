"""Emulators of meters and dongles, built on the library's own device-side state machines."""
