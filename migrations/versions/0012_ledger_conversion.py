"""ledger: `conversion` entries (a charge settled in another currency than the deal's)

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KINDS = (
    "funding",
    "fee",
    "release",
    "transfer",
    "transfer_reversal",
    "refund",
    "chargeback",
    "chargeback_reversal",
    "adjustment",
)


def _kind(*kinds: str) -> sa.Enum:
    return sa.Enum(
        *kinds, name="journal_entry_kind", native_enum=False, create_constraint=True, length=20
    )


def _set_kinds(old: tuple[str, ...], new: tuple[str, ...]) -> None:
    """Replace the CHECK on `journal_entries.kind` (a plain string column with a CHECK)."""
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(
            op.f("ck_journal_entries_journal_entry_kind"), "journal_entries", "check"
        )
        listed = ", ".join(f"'{k}'" for k in new)
        op.create_check_constraint("journal_entry_kind", "journal_entries", f"kind IN ({listed})")
        return
    # SQLite cannot alter a CHECK: batch mode copies the table with the new one.
    with op.batch_alter_table("journal_entries", schema=None, recreate="always") as batch_op:
        batch_op.alter_column("kind", existing_type=_kind(*old), type_=_kind(*new))


def upgrade() -> None:
    _set_kinds(_KINDS, (*_KINDS, "conversion"))


def downgrade() -> None:
    op.execute(
        "DELETE FROM journal_lines WHERE entry_id IN "
        "(SELECT id FROM journal_entries WHERE kind = 'conversion')"
    )
    op.execute("DELETE FROM journal_entries WHERE kind = 'conversion'")
    _set_kinds((*_KINDS, "conversion"), _KINDS)
