"""briefs: an index in creation order for the catalogue's first pages

`GET /v1/briefs` (newest first) filters by visibility with an OR (the caller's brands, open
public briefs, briefs the caller was invited to) that no index matches, so PostgreSQL read and
sorted every brief for each page (a sequential scan: 6.5 ms at 10,000 briefs). Walking this
index backwards stops after the page's rows (0.2 ms); see benchmarks/api/README.md.

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_briefs_created_at_id", "briefs", ["created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_briefs_created_at_id", table_name="briefs")
