"""stripe: payout accounts (Connect Express) and the Stripe webhook inbox

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.models.base

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "payout_accounts",
        sa.Column("influencer_id", sa.String(length=40), nullable=False),
        sa.Column("stripe_account_id", sa.String(length=255), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("charges_enabled", sa.Boolean(), nullable=False),
        sa.Column("payouts_enabled", sa.Boolean(), nullable=False),
        sa.Column("details_submitted", sa.Boolean(), nullable=False),
        sa.Column("transfers_capability", sa.String(length=20), nullable=False),
        sa.Column("requirements_due", app.models.base.JsonDoc, nullable=False),
        sa.Column("disabled_reason", sa.String(length=100), nullable=True),
        sa.Column("links_issued", sa.Integer(), nullable=False),
        sa.Column("last_event_at", app.models.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_at", app.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["influencer_id"],
            ["influencers.id"],
            name=op.f("fk_payout_accounts_influencer_id_influencers"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("influencer_id", name=op.f("pk_payout_accounts")),
        sa.UniqueConstraint("stripe_account_id", name=op.f("uq_payout_accounts_stripe_account_id")),
    )
    op.create_table(
        "stripe_events",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("stripe_event_id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("object_id", sa.String(length=255), nullable=True),
        sa.Column("account", sa.String(length=255), nullable=True),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("api_version", sa.String(length=40), nullable=True),
        sa.Column("stripe_created_at", app.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("payload", app.models.base.JsonDoc, nullable=False),
        sa.Column("deliveries", sa.Integer(), nullable=False),
        sa.Column("received_at", app.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_received_at", app.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("job_id", sa.String(length=40), nullable=True),
        sa.Column("processed_at", app.models.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column(
            "outcome",
            sa.Enum(
                "applied",
                "ignored",
                "no_handler",
                "unknown_type",
                "duplicate",
                name="stripe_event_outcome",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=True,
        ),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stripe_events")),
        sa.UniqueConstraint("stripe_event_id", name=op.f("uq_stripe_events_stripe_event_id")),
    )
    with op.batch_alter_table("stripe_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_stripe_events_object_id_type", ["object_id", "type"], unique=False
        )
        batch_op.create_index(
            "ix_stripe_events_type_received_at", ["type", "received_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("stripe_events", schema=None) as batch_op:
        batch_op.drop_index("ix_stripe_events_type_received_at")
        batch_op.drop_index("ix_stripe_events_object_id_type")
    op.drop_table("stripe_events")
    op.drop_table("payout_accounts")
