"""briefs.platform_coverage: whether a brief's platforms are required of every creator

`preferred` (every existing brief, and the default): a creator who can make only part of the
deliverables ranks lower; `required`: only creators on every platform of the brief rank (the
`every_platform=true` filter of `/matches`, as the brief's own); `alternatives`: the platforms
are alternatives, a creator on any of them is a full match (docs/matching.md).

Revision ID: 0024
Revises: 0023
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("briefs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "platform_coverage",
                sa.Enum(
                    "preferred",
                    "required",
                    "alternatives",
                    name="brief_platform_coverage",
                    native_enum=False,
                    create_constraint=True,
                    length=20,
                ),
                server_default="preferred",
                nullable=False,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("briefs", schema=None) as batch_op:
        # The CHECK first: SQLite's batch copy of the table would keep it, naming a column gone.
        batch_op.drop_constraint(op.f("ck_briefs_brief_platform_coverage"), type_="check")
        batch_op.drop_column("platform_coverage")
