"""`chimecast-bench`, the load tool: relay, capacity, setup and media scenarios (see cli.py)."""
