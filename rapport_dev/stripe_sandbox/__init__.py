"""A local, stateful fake of the part of Stripe's API Rapport uses (see docs/stripe-sandbox.md).

The application talks to it through the official `stripe` SDK, pointed at the sandbox's URL.
"""

from .server import create_sandbox_app, run_sandbox

__all__ = ["create_sandbox_app", "run_sandbox"]
