"""Signed webhooks for call events: enqueued with the event, delivered with retries."""
