"""How anything moves and what happens meanwhile: the state-machine engine and its declarative
effects, the outbox and timers."""
