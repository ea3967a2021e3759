"""The state-machine engine, the outbox and timers: how anything moves and what happens meanwhile."""
