"""influencers: an index on updated_at for the matching index's change probe

Before every ranking each API process asks for the newest `updated_at` and how many listings
are at or after the one it indexed last (app/services/matching/service.py); without an index
both read every listing (a sequential scan per ranking at a million listings). With it they are
an index lookup and a short range.

Revision ID: 0021
Revises: 0020
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_influencers_updated_at", "influencers", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_influencers_updated_at", table_name="influencers")
