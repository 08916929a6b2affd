"""Who is connected where and what the daemon remembers: services, hubs, caches, grace
timers, liveness and the store (the only code that touches the database)."""
