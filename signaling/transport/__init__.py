"""Bytes and connections: WebSocket framing, the handshake, one connection's reader and
single writer, heartbeats and rate limits."""
