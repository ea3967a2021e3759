"""delivery: drafts, proofs, deadline extensions, metric reports, disputes; deliverables' late
flag and delivery timestamps

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.models.base

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "disputes",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("contract_id", sa.String(length=40), nullable=False),
        sa.Column(
            "opened_by",
            sa.Enum(
                "brand",
                "influencer",
                name="dispute_side",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=True,
        ),
        sa.Column("opened_by_user", sa.String(length=40), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "open",
                "escalated",
                "resolved",
                "withdrawn",
                name="dispute_state",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("contract_state_before", sa.String(length=30), nullable=False),
        sa.Column("escalates_at", app.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("escalated_at", app.models.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column(
            "resolution",
            sa.Enum(
                "release",
                "partial_refund",
                "full_refund",
                name="dispute_resolution",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=True,
        ),
        sa.Column("refund_amount", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("resolved_by", sa.String(length=40), nullable=True),
        sa.Column("resolved_at", app.models.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_at", app.models.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_at", app.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
            name=op.f("fk_disputes_contract_id_contracts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disputes")),
    )
    with op.batch_alter_table("disputes", schema=None) as batch_op:
        batch_op.create_index("ix_disputes_contract_id_id", ["contract_id", "id"], unique=False)
        batch_op.create_index("ix_disputes_state_id", ["state", "id"], unique=False)
        batch_op.create_index(
            "uq_disputes_contract_unsettled",
            ["contract_id"],
            unique=True,
            sqlite_where=sa.text("state IN ('open', 'escalated')"),
            postgresql_where=sa.text("state IN ('open', 'escalated')"),
        )

    op.create_table(
        "deadline_extensions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("deliverable_id", sa.String(length=40), nullable=False),
        sa.Column("contract_id", sa.String(length=40), nullable=False),
        sa.Column(
            "proposed_by",
            sa.Enum(
                "brand",
                "influencer",
                name="extension_side",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("proposed_by_user", sa.String(length=40), nullable=True),
        sa.Column("previous_due_date", sa.Date(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "proposed",
                "accepted",
                "declined",
                "withdrawn",
                "cancelled",
                name="extension_state",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("responded_by_user", sa.String(length=40), nullable=True),
        sa.Column("responded_at", app.models.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("response_note", sa.Text(), nullable=True),
        sa.Column("created_at", app.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
            name=op.f("fk_deadline_extensions_contract_id_contracts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["deliverable_id"],
            ["deliverables.id"],
            name=op.f("fk_deadline_extensions_deliverable_id_deliverables"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deadline_extensions")),
    )
    with op.batch_alter_table("deadline_extensions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_deadline_extensions_contract_id"), ["contract_id"], unique=False
        )
        batch_op.create_index(
            "ix_deadline_extensions_deliverable_id_id", ["deliverable_id", "id"], unique=False
        )

    op.create_table(
        "drafts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("deliverable_id", sa.String(length=40), nullable=False),
        sa.Column("contract_id", sa.String(length=40), nullable=False),
        sa.Column("version_no", sa.Integer(), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("caption", sa.Text(), nullable=False),
        sa.Column("media_urls", app.models.base.JsonDoc, nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "in_review",
                "approved",
                "changes_requested",
                "withdrawn",
                name="draft_state",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("submitted_by", sa.String(length=40), nullable=True),
        sa.Column("submitted_at", app.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("review_due_at", app.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("reviewed_at", app.models.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("reviewed_by", sa.String(length=40), nullable=True),
        sa.Column("feedback", sa.Text(), nullable=True),
        sa.Column("approved_automatically", sa.Boolean(), nullable=False),
        sa.Column("disclosure", app.models.base.JsonDoc, nullable=False),
        sa.Column("created_at", app.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
            name=op.f("fk_drafts_contract_id_contracts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["deliverable_id"],
            ["deliverables.id"],
            name=op.f("fk_drafts_deliverable_id_deliverables"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drafts")),
        sa.UniqueConstraint("deliverable_id", "version_no", name=op.f("uq_drafts_deliverable_id")),
    )
    with op.batch_alter_table("drafts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_drafts_contract_id"), ["contract_id"], unique=False)
        batch_op.create_index(
            "ix_drafts_deliverable_id_state", ["deliverable_id", "state"], unique=False
        )

    op.create_table(
        "metric_reports",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("deliverable_id", sa.String(length=40), nullable=False),
        sa.Column("contract_id", sa.String(length=40), nullable=False),
        sa.Column(
            "reported_by",
            sa.Enum(
                "brand",
                "influencer",
                name="metric_side",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("reported_by_user", sa.String(length=40), nullable=True),
        sa.Column(
            "source",
            sa.Enum(
                "self_reported",
                "platform_api",
                "screenshot",
                name="metric_source",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("version_no", sa.Integer(), nullable=False),
        sa.Column("supersedes_id", sa.String(length=40), nullable=True),
        sa.Column("superseded_by_id", sa.String(length=40), nullable=True),
        sa.Column("superseded_at", app.models.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("impressions", sa.BigInteger(), nullable=True),
        sa.Column("reach", sa.BigInteger(), nullable=True),
        sa.Column("likes", sa.BigInteger(), nullable=True),
        sa.Column("comments", sa.BigInteger(), nullable=True),
        sa.Column("shares", sa.BigInteger(), nullable=True),
        sa.Column("saves", sa.BigInteger(), nullable=True),
        sa.Column("clicks", sa.BigInteger(), nullable=True),
        sa.Column("conversions", sa.BigInteger(), nullable=True),
        sa.Column("revenue", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("measured_at", app.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("evidence_url", sa.String(length=2048), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", app.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
            name=op.f("fk_metric_reports_contract_id_contracts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["deliverable_id"],
            ["deliverables.id"],
            name=op.f("fk_metric_reports_deliverable_id_deliverables"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["supersedes_id"],
            ["metric_reports.id"],
            name=op.f("fk_metric_reports_supersedes_id_metric_reports"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metric_reports")),
        sa.UniqueConstraint(
            "deliverable_id",
            "reported_by",
            "source",
            "version_no",
            name=op.f("uq_metric_reports_deliverable_id"),
        ),
    )
    with op.batch_alter_table("metric_reports", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_metric_reports_contract_id"), ["contract_id"], unique=False
        )
        batch_op.create_index(
            "ix_metric_reports_deliverable_id_id", ["deliverable_id", "id"], unique=False
        )

    op.create_table(
        "proofs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("deliverable_id", sa.String(length=40), nullable=False),
        sa.Column("contract_id", sa.String(length=40), nullable=False),
        sa.Column("version_no", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("published_at", app.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("platform_post_id", sa.String(length=200), nullable=False),
        sa.Column("caption", sa.Text(), nullable=False),
        sa.Column("paid_partnership_label", sa.Boolean(), nullable=True),
        sa.Column("disclosure", app.models.base.JsonDoc, nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "submitted",
                "confirmed",
                "disputed",
                name="proof_state",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("submitted_by", sa.String(length=40), nullable=True),
        sa.Column("submitted_at", app.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column(
            "verification_due_at", app.models.base.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column("decided_at", app.models.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=40), nullable=True),
        sa.Column("confirmed_automatically", sa.Boolean(), nullable=False),
        sa.Column("dispute_reason", sa.Text(), nullable=True),
        sa.Column("created_at", app.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
            name=op.f("fk_proofs_contract_id_contracts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["deliverable_id"],
            ["deliverables.id"],
            name=op.f("fk_proofs_deliverable_id_deliverables"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proofs")),
        sa.UniqueConstraint("deliverable_id", "version_no", name=op.f("uq_proofs_deliverable_id")),
    )
    with op.batch_alter_table("proofs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_proofs_contract_id"), ["contract_id"], unique=False)

    with op.batch_alter_table("deliverables", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("late", sa.Boolean(), server_default=sa.text("false"), nullable=False)
        )
        batch_op.add_column(
            sa.Column("late_since", app.models.base.UtcDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("published_at", app.models.base.UtcDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("confirmed_at", app.models.base.UtcDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("cancelled_at", app.models.base.UtcDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("deliverables", schema=None) as batch_op:
        batch_op.drop_column("cancelled_at")
        batch_op.drop_column("confirmed_at")
        batch_op.drop_column("published_at")
        batch_op.drop_column("late_since")
        batch_op.drop_column("late")

    with op.batch_alter_table("proofs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_proofs_contract_id"))

    op.drop_table("proofs")
    with op.batch_alter_table("metric_reports", schema=None) as batch_op:
        batch_op.drop_index("ix_metric_reports_deliverable_id_id")
        batch_op.drop_index(batch_op.f("ix_metric_reports_contract_id"))

    op.drop_table("metric_reports")
    with op.batch_alter_table("drafts", schema=None) as batch_op:
        batch_op.drop_index("ix_drafts_deliverable_id_state")
        batch_op.drop_index(batch_op.f("ix_drafts_contract_id"))

    op.drop_table("drafts")
    with op.batch_alter_table("deadline_extensions", schema=None) as batch_op:
        batch_op.drop_index("ix_deadline_extensions_deliverable_id_id")
        batch_op.drop_index(batch_op.f("ix_deadline_extensions_contract_id"))

    op.drop_table("deadline_extensions")

    with op.batch_alter_table("disputes", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_disputes_contract_unsettled",
            sqlite_where=sa.text("state IN ('open', 'escalated')"),
            postgresql_where=sa.text("state IN ('open', 'escalated')"),
        )
        batch_op.drop_index("ix_disputes_state_id")
        batch_op.drop_index("ix_disputes_contract_id_id")

    op.drop_table("disputes")
