"""brief match weights

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.models.base

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("briefs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("match_weights", app.models.base.JsonDoc, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("briefs", schema=None) as batch_op:
        batch_op.drop_column("match_weights")
