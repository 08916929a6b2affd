"""Client-side code: the HTTP API and signaling clients, the aiortc media peer and the probe.

Nothing here is imported by the daemon."""
