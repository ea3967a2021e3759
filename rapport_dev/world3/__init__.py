"""A third, independently written synthetic marketplace (see ``generator``)."""

from rapport_dev.world3.generator import FAKE_KINDS, OVER_KINDS, World, generate_world

__all__ = ["FAKE_KINDS", "OVER_KINDS", "World", "generate_world"]
