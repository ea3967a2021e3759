"""ambassador programmes: recurring contracts (issue 15 item 5)

- `ambassador_programmes`: one per accepted offer whose terms recur;
- `contracts.programme_id`, `contracts.period_no` (1 for every existing contract); a contract is
  unique per offer (and bid) *and period*, no longer per offer alone: a programme's renewals are
  periods 2, 3 … of one accepted offer;
- `payments.customer_id`, `payments.saved_payment_method_id`: the Stripe customer and the card
  kept for a programme's later periods.

On SQLite the contracts table is rebuilt (batch mode) to swap its unique constraints; Alembic's
connection has no `PRAGMA foreign_keys`, so the rebuild cascades nothing. A downgrade with
renewals in the table fails on the restored unique constraints, on purpose: it would otherwise
have to delete contracts that carry money.

Revision ID: 0019
Revises: 0018
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.models.base

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=20)


def upgrade() -> None:
    when = app.models.base.UtcDateTime(timezone=True)
    op.create_table(
        "ambassador_programmes",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("offer_id", sa.String(length=40), nullable=False),
        sa.Column("bid_id", sa.String(length=40), nullable=False),
        sa.Column("brief_id", sa.String(length=40), nullable=False),
        sa.Column("brand_id", sa.String(length=40), nullable=False),
        sa.Column("influencer_id", sa.String(length=40), nullable=False),
        sa.Column(
            "state",
            _enum("programme_state", "active", "notice_given", "ended", "lapsed"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("interval", _enum("programme_interval", "week", "month"), nullable=False),
        sa.Column("interval_count", sa.Integer(), nullable=False),
        sa.Column("notice_days", sa.Integer(), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("starts_at", when, nullable=False),
        sa.Column("current_period", sa.Integer(), nullable=False),
        sa.Column("next_renewal_at", when, nullable=True),
        sa.Column("notice_given_at", when, nullable=True),
        sa.Column(
            "notice_given_by",
            _enum("programme_notice_side", "brand", "influencer"),
            nullable=True,
        ),
        sa.Column("notice_reason", sa.Text(), nullable=True),
        sa.Column("notice_ends_at", when, nullable=True),
        sa.Column("ended_at", when, nullable=True),
        sa.Column("end_reason", sa.Text(), nullable=True),
        sa.Column("created_at", when, nullable=False),
        sa.Column("updated_at", when, nullable=False),
        sa.ForeignKeyConstraint(
            ["bid_id"],
            ["bids.id"],
            name=op.f("fk_ambassador_programmes_bid_id_bids"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
            name=op.f("fk_ambassador_programmes_brand_id_brands"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["brief_id"],
            ["briefs.id"],
            name=op.f("fk_ambassador_programmes_brief_id_briefs"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["influencer_id"],
            ["influencers.id"],
            name=op.f("fk_ambassador_programmes_influencer_id_influencers"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["offer_id"],
            ["offers.id"],
            name=op.f("fk_ambassador_programmes_offer_id_offers"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ambassador_programmes")),
        sa.UniqueConstraint("offer_id", name=op.f("uq_ambassador_programmes_offer_id")),
    )
    with op.batch_alter_table("ambassador_programmes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_ambassador_programmes_brand_id_id", ["brand_id", "id"], unique=False
        )
        batch_op.create_index(
            "ix_ambassador_programmes_influencer_id_id", ["influencer_id", "id"], unique=False
        )

    with op.batch_alter_table("contracts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("programme_id", sa.String(length=40), nullable=True))
        batch_op.add_column(
            sa.Column("period_no", sa.Integer(), server_default=sa.text("1"), nullable=False)
        )
        batch_op.drop_constraint("uq_contracts_bid_id", type_="unique")
        batch_op.drop_constraint("uq_contracts_offer_id", type_="unique")
        batch_op.create_unique_constraint("uq_contracts_bid_period", ["bid_id", "period_no"])
        batch_op.create_unique_constraint("uq_contracts_offer_period", ["offer_id", "period_no"])
        batch_op.create_foreign_key(
            batch_op.f("fk_contracts_programme_id_ambassador_programmes"),
            "ambassador_programmes",
            ["programme_id"],
            ["id"],
            ondelete="RESTRICT",
        )
        batch_op.create_index(batch_op.f("ix_contracts_programme_id"), ["programme_id"])

    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("customer_id", sa.String(length=255), nullable=True))
        batch_op.add_column(
            sa.Column("saved_payment_method_id", sa.String(length=255), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_column("saved_payment_method_id")
        batch_op.drop_column("customer_id")

    with op.batch_alter_table("contracts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contracts_programme_id"))
        batch_op.drop_constraint(
            batch_op.f("fk_contracts_programme_id_ambassador_programmes"), type_="foreignkey"
        )
        batch_op.drop_constraint("uq_contracts_offer_period", type_="unique")
        batch_op.drop_constraint("uq_contracts_bid_period", type_="unique")
        batch_op.create_unique_constraint("uq_contracts_bid_id", ["bid_id"])
        batch_op.create_unique_constraint("uq_contracts_offer_id", ["offer_id"])
        batch_op.drop_column("period_no")
        batch_op.drop_column("programme_id")

    with op.batch_alter_table("ambassador_programmes", schema=None) as batch_op:
        batch_op.drop_index("ix_ambassador_programmes_influencer_id_id")
        batch_op.drop_index("ix_ambassador_programmes_brand_id_id")
    op.drop_table("ambassador_programmes")
