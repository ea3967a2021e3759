"""social_accounts: per-post metrics and comment samples; unknown averages are null, not 0

Creators and partners can now send an account's recent posts with their counts (views, likes,
comments, shares, saves, sponsored, posted_at) and a sample of comment texts (issue 13); the
matching reads fake-follower and over-exposure evidence from them. The per-post averages
become nullable: null is "not reported", which is not 0.

Before this revision the API stored 0 for an average nobody sent, so a stored 0 cannot be told
apart from an omission; the upgrade turns those zeros into null (unknown), the honest reading.
The downgrade turns null back into 0.

Revision ID: 0018
Revises: 0017
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.models.base

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AVERAGES = ("avg_views", "avg_likes", "avg_comments", "avg_shares", "avg_saves")


def upgrade() -> None:
    with op.batch_alter_table("social_accounts", schema=None) as batch_op:
        for name in AVERAGES:
            batch_op.alter_column(name, existing_type=sa.BigInteger(), nullable=True)
        batch_op.add_column(
            sa.Column(
                "recent_posts",
                app.models.base.JsonDoc,
                server_default=sa.text("'[]'"),
                nullable=False,
            )
        )
        batch_op.add_column(
            sa.Column(
                "comment_samples",
                app.models.base.JsonDoc,
                server_default=sa.text("'[]'"),
                nullable=False,
            )
        )
    for name in AVERAGES:
        op.execute(f"UPDATE social_accounts SET {name} = NULL WHERE {name} = 0")  # noqa: S608


def downgrade() -> None:
    for name in AVERAGES:
        op.execute(f"UPDATE social_accounts SET {name} = 0 WHERE {name} IS NULL")  # noqa: S608
    with op.batch_alter_table("social_accounts", schema=None) as batch_op:
        batch_op.drop_column("comment_samples")
        batch_op.drop_column("recent_posts")
        for name in AVERAGES:
            batch_op.alter_column(name, existing_type=sa.BigInteger(), nullable=False)
