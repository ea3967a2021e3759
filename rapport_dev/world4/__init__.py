"""world4: a held-out marketplace generator written from the public API only (README.md)."""

from rapport_dev.world4.generator import (
    DORMANT,
    FAKE_KINDS,
    OVER_KINDS,
    Brief,
    Creator,
    World,
    generate_world,
    grade,
)

__all__ = [
    "DORMANT",
    "FAKE_KINDS",
    "OVER_KINDS",
    "Brief",
    "Creator",
    "World",
    "generate_world",
    "grade",
]
