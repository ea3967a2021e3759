"""relationships: records, lists, ratings, performance visibility (issue 15)

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.models.base

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "relationship_lists",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("brand_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "shortlist",
                "favourites",
                name="relationship_list_kind",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("created_at", app.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
            name=op.f("fk_relationship_lists_brand_id_brands"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_relationship_lists")),
        sa.UniqueConstraint("brand_id", "name", name="uq_relationship_lists_brand_name"),
    )
    op.create_table(
        "performance_visibility",
        sa.Column("influencer_id", sa.String(length=40), nullable=False),
        sa.Column("public", app.models.base.JsonDoc, nullable=False),
        sa.Column("updated_at", app.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["influencer_id"],
            ["influencers.id"],
            name=op.f("fk_performance_visibility_influencer_id_influencers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("influencer_id", name=op.f("pk_performance_visibility")),
    )
    op.create_table(
        "relationship_list_entries",
        sa.Column("list_id", sa.String(length=40), nullable=False),
        sa.Column("influencer_id", sa.String(length=40), nullable=False),
        sa.Column("added_at", app.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["influencer_id"],
            ["influencers.id"],
            name=op.f("fk_relationship_list_entries_influencer_id_influencers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["relationship_lists.id"],
            name=op.f("fk_relationship_list_entries_list_id_relationship_lists"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "list_id", "influencer_id", name=op.f("pk_relationship_list_entries")
        ),
    )
    with op.batch_alter_table("relationship_list_entries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_relationship_list_entries_influencer_id"),
            ["influencer_id"],
            unique=False,
        )

    op.create_table(
        "relationships",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("brand_id", sa.String(length=40), nullable=False),
        sa.Column("influencer_id", sa.String(length=40), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "prospect",
                "active",
                "ambassador",
                "paused",
                "do_not_work",
                name="relationship_status",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("tags", app.models.base.JsonDoc, nullable=False),
        sa.Column(
            "first_contact",
            sa.Enum(
                "invitation",
                "bid",
                "brand",
                name="first_contact",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("first_contact_at", app.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("created_at", app.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
            name=op.f("fk_relationships_brand_id_brands"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["influencer_id"],
            ["influencers.id"],
            name=op.f("fk_relationships_influencer_id_influencers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_relationships")),
        sa.UniqueConstraint("brand_id", "influencer_id", name="uq_relationships_brand_influencer"),
    )
    with op.batch_alter_table("relationships", schema=None) as batch_op:
        batch_op.create_index("ix_relationships_influencer_id", ["influencer_id"], unique=False)

    op.create_table(
        "ratings",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("contract_id", sa.String(length=40), nullable=False),
        sa.Column("brand_id", sa.String(length=40), nullable=False),
        sa.Column("influencer_id", sa.String(length=40), nullable=False),
        sa.Column(
            "rater_side",
            sa.Enum(
                "brand",
                "influencer",
                name="rating_side",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("rated_by_user", sa.String(length=40), nullable=True),
        sa.Column("scores", app.models.base.JsonDoc, nullable=False),
        sa.Column("created_at", app.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brands.id"], name=op.f("fk_ratings_brand_id_brands"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
            name=op.f("fk_ratings_contract_id_contracts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["influencer_id"],
            ["influencers.id"],
            name=op.f("fk_ratings_influencer_id_influencers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ratings")),
        sa.UniqueConstraint("contract_id", "rater_side", name="uq_ratings_contract_side"),
    )
    with op.batch_alter_table("ratings", schema=None) as batch_op:
        batch_op.create_index("ix_ratings_brand_id", ["brand_id"], unique=False)
        batch_op.create_index("ix_ratings_influencer_id", ["influencer_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ratings", schema=None) as batch_op:
        batch_op.drop_index("ix_ratings_influencer_id")
        batch_op.drop_index("ix_ratings_brand_id")

    op.drop_table("ratings")
    with op.batch_alter_table("relationships", schema=None) as batch_op:
        batch_op.drop_index("ix_relationships_influencer_id")

    op.drop_table("relationships")
    with op.batch_alter_table("relationship_list_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_relationship_list_entries_influencer_id"))

    op.drop_table("relationship_list_entries")
    op.drop_table("performance_visibility")
    op.drop_table("relationship_lists")
