"""listing_changes: the matching index learns of changed and deleted listings in O(changes)

Before every ranking each API process asked whether listings had changed: the newest
`updated_at`, how many are at or after it and, to notice deletions, how many listings there are
(a count of every listing: ~11 ms of PostgreSQL at 100,000 listings, ten times that at a
million). A watermark on `updated_at` also missed an update committed after a newer one (its
time is older than the watermark). Now triggers on `influencers` and `social_accounts` record,
in the writer's transaction, the newest change per listing (a deletion too); the index reads
only the rows newer than what it has seen (app/services/matching/service.py, `probe`).

- SQLite: `seq` is AUTOINCREMENT, assigned under the single write lock, so in commit order.
- PostgreSQL: `seq` comes from a sequence (not in commit order), so each row also carries its
  transaction's id (`txid`); a reader asks for `txid >=` the oldest transaction that was still
  running when it last looked, which covers every transaction that committed since.

No backfill: an index built after this migration starts from the rows there are. The index on
`influencers.updated_at` (0021), which only the old probe read, is dropped.

Revision ID: 0023
Revises: 0022
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, the column naming the listing) whose inserts, updates and deletes are logged.
_SOURCES = (("influencers", "id"), ("social_accounts", "influencer_id"))
_EVENTS = ("INSERT", "UPDATE", "DELETE")

_PG_FUNCTION = """
CREATE FUNCTION log_listing_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    listing text;
BEGIN
    -- A branch is parsed only when it runs: NEW.influencer_id is never read on influencers.
    IF TG_TABLE_NAME = 'influencers' THEN
        IF TG_OP = 'DELETE' THEN listing := OLD.id; ELSE listing := NEW.id; END IF;
    ELSE
        IF TG_OP = 'DELETE' THEN
            listing := OLD.influencer_id;
        ELSE
            listing := NEW.influencer_id;
        END IF;
    END IF;
    INSERT INTO listing_changes (listing_id, txid)
    VALUES (listing, pg_current_xact_id()::text::bigint)
    ON CONFLICT (listing_id) DO UPDATE SET seq = EXCLUDED.seq, txid = EXCLUDED.txid;
    RETURN NULL;
END
$$
"""


def _trigger(table: str, event: str) -> str:
    return f"log_listing_change_{table}_{event.lower()}"


def upgrade() -> None:
    op.create_table(
        "listing_changes",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("listing_id", sa.String(length=40), nullable=False),
        sa.Column("txid", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_listing_changes")),
        sa.UniqueConstraint("listing_id", name=op.f("uq_listing_changes_listing_id")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_listing_changes_txid"), "listing_changes", ["txid"], unique=False)
    op.drop_index("ix_influencers_updated_at", table_name="influencers")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        for table, _ in _SOURCES:
            for event in _EVENTS:
                op.execute(
                    f"CREATE TRIGGER {_trigger(table, event)} AFTER {event} ON {table} "
                    f"FOR EACH ROW EXECUTE FUNCTION log_listing_change()"
                )
        return
    for table, column in _SOURCES:
        for event in _EVENTS:
            row = "OLD" if event == "DELETE" else "NEW"
            # REPLACE: the listing's row is replaced, with a new (higher) seq.
            log = f"INSERT OR REPLACE INTO listing_changes (listing_id) VALUES ({row}.{column})"  # noqa: S608 - names from _SOURCES
            op.execute(
                f"CREATE TRIGGER {_trigger(table, event)} AFTER {event} ON {table} BEGIN {log}; END"
            )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, _ in _SOURCES:
        for event in _EVENTS:
            on = f" ON {table}" if postgres else ""
            op.execute(f"DROP TRIGGER IF EXISTS {_trigger(table, event)}{on}")
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS log_listing_change()")
    op.drop_index(op.f("ix_listing_changes_txid"), table_name="listing_changes")
    op.drop_table("listing_changes")
    op.create_index("ix_influencers_updated_at", "influencers", ["updated_at"])
