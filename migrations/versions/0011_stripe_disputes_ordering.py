"""stripe disputes (chargebacks and inquiries) and the newest event applied per Stripe object

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.models.base

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stripe_object_states",
        sa.Column("object_id", sa.String(length=255), nullable=False),
        sa.Column("object_type", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=True),
        sa.Column("rank", sa.BigInteger(), nullable=False),
        sa.Column("event_created", app.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("updated_at", app.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("object_id", name=op.f("pk_stripe_object_states")),
    )
    op.create_table(
        "stripe_disputes",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("contract_id", sa.String(length=40), nullable=False),
        sa.Column("dispute_id", sa.String(length=40), nullable=True),
        sa.Column("charge_id", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("reason", sa.String(length=60), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("evidence_due_by", app.models.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("settlement_currency", sa.String(length=3), nullable=True),
        sa.Column("funds_withdrawn", sa.BigInteger(), nullable=False),
        sa.Column("funds_reinstated", sa.BigInteger(), nullable=False),
        sa.Column("dispute_fee", sa.BigInteger(), nullable=False),
        sa.Column("closed_at", app.models.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_at", app.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
            name=op.f("fk_stripe_disputes_contract_id_contracts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["dispute_id"],
            ["disputes.id"],
            name=op.f("fk_stripe_disputes_dispute_id_disputes"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stripe_disputes")),
    )
    with op.batch_alter_table("stripe_disputes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_stripe_disputes_contract_id", ["contract_id", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("stripe_disputes", schema=None) as batch_op:
        batch_op.drop_index("ix_stripe_disputes_contract_id")
    op.drop_table("stripe_disputes")
    op.drop_table("stripe_object_states")
