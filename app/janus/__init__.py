"""Janus VideoRoom as the SFU of large meetings: the HTTP client, node health and placement,
and the rooms and credentials ChimeCast hands out (ChimeCast stays the authority)."""
