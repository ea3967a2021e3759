"""A second, independently written synthetic marketplace (see ``generator``)."""

from rapport_dev.world2.generator import FAKE_KINDS, World, api_brief, generate_world

__all__ = ["FAKE_KINDS", "World", "api_brief", "generate_world"]
