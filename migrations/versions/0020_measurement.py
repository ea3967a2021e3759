"""measurement: tracked links, clicks, promo codes, conversions (issue 15)

Revision ID: 0020
Revises: 0019

Tables of first-party measurement: tracked links and their clicks (no IP address or user agent
stored, only a keyed visitor hash per day and brand), creators' promo codes, brands' conversion
secrets, and conversions with their refunds posted by the brands' shops (docs/reports.md).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.models.base

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "conversion_secrets",
        sa.Column("brand_id", sa.String(length=40), nullable=False),
        sa.Column("secret", sa.String(length=100), nullable=False),
        sa.Column("previous_secret", sa.String(length=100), nullable=True),
        sa.Column(
            "previous_secret_expires_at", app.models.base.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column("created_at", app.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("rotated_at", app.models.base.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
            name=op.f("fk_conversion_secrets_brand_id_brands"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("brand_id", name=op.f("pk_conversion_secrets")),
    )
    op.create_table(
        "promo_codes",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("brand_id", sa.String(length=40), nullable=False),
        sa.Column("contract_id", sa.String(length=40), nullable=False),
        sa.Column("influencer_id", sa.String(length=40), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("created_by_user", sa.String(length=40), nullable=True),
        sa.Column("created_at", app.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
            name=op.f("fk_promo_codes_brand_id_brands"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
            name=op.f("fk_promo_codes_contract_id_contracts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["influencer_id"],
            ["influencers.id"],
            name=op.f("fk_promo_codes_influencer_id_influencers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promo_codes")),
        sa.UniqueConstraint("brand_id", "code", name="uq_promo_codes_brand_code"),
    )
    with op.batch_alter_table("promo_codes", schema=None) as batch_op:
        batch_op.create_index("ix_promo_codes_contract_id_id", ["contract_id", "id"], unique=False)

    op.create_table(
        "tracked_links",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("contract_id", sa.String(length=40), nullable=False),
        sa.Column("brand_id", sa.String(length=40), nullable=False),
        sa.Column("influencer_id", sa.String(length=40), nullable=False),
        sa.Column("target_url", sa.String(length=2048), nullable=False),
        sa.Column("utm", app.models.base.JsonDoc, nullable=False),
        sa.Column("label", sa.String(length=200), nullable=True),
        sa.Column("created_by_user", sa.String(length=40), nullable=True),
        sa.Column("created_at", app.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
            name=op.f("fk_tracked_links_brand_id_brands"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
            name=op.f("fk_tracked_links_contract_id_contracts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["influencer_id"],
            ["influencers.id"],
            name=op.f("fk_tracked_links_influencer_id_influencers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracked_links")),
        sa.UniqueConstraint("code", name=op.f("uq_tracked_links_code")),
    )
    with op.batch_alter_table("tracked_links", schema=None) as batch_op:
        batch_op.create_index(
            "ix_tracked_links_contract_id_id", ["contract_id", "id"], unique=False
        )

    op.create_table(
        "conversions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("brand_id", sa.String(length=40), nullable=False),
        sa.Column("order_id", sa.String(length=200), nullable=False),
        sa.Column("contract_id", sa.String(length=40), nullable=False),
        sa.Column("influencer_id", sa.String(length=40), nullable=False),
        sa.Column(
            "attributed_by",
            sa.Enum(
                "link",
                "promo_code",
                name="attribution",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("link_id", sa.String(length=40), nullable=True),
        sa.Column("promo_code_id", sa.String(length=40), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("refunded", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", app.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("created_at", app.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
            name=op.f("fk_conversions_brand_id_brands"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
            name=op.f("fk_conversions_contract_id_contracts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["influencer_id"],
            ["influencers.id"],
            name=op.f("fk_conversions_influencer_id_influencers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["link_id"],
            ["tracked_links.id"],
            name=op.f("fk_conversions_link_id_tracked_links"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["promo_code_id"],
            ["promo_codes.id"],
            name=op.f("fk_conversions_promo_code_id_promo_codes"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversions")),
        sa.UniqueConstraint("brand_id", "order_id", name="uq_conversions_brand_order"),
    )
    with op.batch_alter_table("conversions", schema=None) as batch_op:
        batch_op.create_index("ix_conversions_brand_id_id", ["brand_id", "id"], unique=False)
        batch_op.create_index(
            "ix_conversions_contract_id_occurred_at", ["contract_id", "occurred_at"], unique=False
        )

    op.create_table(
        "link_clicks",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("link_id", sa.String(length=40), nullable=False),
        sa.Column("contract_id", sa.String(length=40), nullable=False),
        sa.Column("at", app.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("visitor_key", sa.String(length=32), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "counted",
                "repeat",
                "bot",
                name="click_kind",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("bot_reason", sa.String(length=100), nullable=True),
        sa.Column("referrer_host", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
            name=op.f("fk_link_clicks_contract_id_contracts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["link_id"],
            ["tracked_links.id"],
            name=op.f("fk_link_clicks_link_id_tracked_links"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_clicks")),
    )
    with op.batch_alter_table("link_clicks", schema=None) as batch_op:
        batch_op.create_index("ix_link_clicks_contract_id_at", ["contract_id", "at"], unique=False)
        batch_op.create_index(
            "ix_link_clicks_link_visitor_at", ["link_id", "visitor_key", "at"], unique=False
        )

    op.create_table(
        "conversion_refunds",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("conversion_id", sa.String(length=40), nullable=False),
        sa.Column("contract_id", sa.String(length=40), nullable=False),
        sa.Column("refund_id", sa.String(length=200), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("occurred_at", app.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("created_at", app.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
            name=op.f("fk_conversion_refunds_contract_id_contracts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["conversion_id"],
            ["conversions.id"],
            name=op.f("fk_conversion_refunds_conversion_id_conversions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversion_refunds")),
        sa.UniqueConstraint(
            "conversion_id", "refund_id", name="uq_conversion_refunds_order_refund"
        ),
    )
    with op.batch_alter_table("conversion_refunds", schema=None) as batch_op:
        batch_op.create_index(
            "ix_conversion_refunds_contract_id_occurred_at",
            ["contract_id", "occurred_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("conversion_refunds", schema=None) as batch_op:
        batch_op.drop_index("ix_conversion_refunds_contract_id_occurred_at")

    op.drop_table("conversion_refunds")
    with op.batch_alter_table("link_clicks", schema=None) as batch_op:
        batch_op.drop_index("ix_link_clicks_link_visitor_at")
        batch_op.drop_index("ix_link_clicks_contract_id_at")

    op.drop_table("link_clicks")
    with op.batch_alter_table("conversions", schema=None) as batch_op:
        batch_op.drop_index("ix_conversions_contract_id_occurred_at")
        batch_op.drop_index("ix_conversions_brand_id_id")

    op.drop_table("conversions")
    with op.batch_alter_table("tracked_links", schema=None) as batch_op:
        batch_op.drop_index("ix_tracked_links_contract_id_id")

    op.drop_table("tracked_links")
    with op.batch_alter_table("promo_codes", schema=None) as batch_op:
        batch_op.drop_index("ix_promo_codes_contract_id_id")

    op.drop_table("promo_codes")
    op.drop_table("conversion_secrets")
