"""The double-entry ledger: every movement of money, booked once, checked before it is written.

The money flows (funding, release and transfer jobs, Stripe webhooks, operators' dispute
resolutions) call the `book_*` helpers below in the caller's transaction; this module never
commits (it flushes). docs/ledger.md has the chart of accounts, the lines of every booking and
the invariants with the place each is enforced.

Conventions
- Amounts are `int`s in the currency's ISO 4217 minor unit (cents; yen); `bool`s and floats are
  refused. A line's amount is signed: positive = debit, negative = credit, and every entry's lines
  sum to zero per currency. Balances returned by `account_balance` and `ContractMoney` are in the
  account's *normal* sign (a liability holding 100 reads 100).
- Every entry carries an `idempotency_key` naming the business event (`release:mst_…`,
  `transfer:mst_…`, `funding:ch_…`, `stripe:evt_…` …), unique in the table. Posting a key again
  returns the existing entry with `created=False` and books nothing; posting it with *different*
  content is refused (`LedgerKeyReused`, or `AlreadyReleased` / `AlreadyTransferred`).
- A contract's money is in one currency, pinned by its first booking (`ledger_contracts`).
- Every booking on a contract first locks that contract's `ledger_contracts` row
  (`SELECT … FOR UPDATE`; SQLite serialises writers with `BEGIN IMMEDIATE`, see app/db.py), then
  reads the contract's balances, checks the rules and writes. Two concurrent releases or refunds
  on one contract therefore run one after the other, and the second sees the first's lines.
  Entries without a contract (platform adjustments) rely on the unique key alone: the insert
  runs in a savepoint, and when a concurrent transaction booked the key first the existing entry
  is returned. Accounts and lock rows are created lazily with `INSERT … ON CONFLICT DO NOTHING`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any, cast

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.clock import utcnow
from app.db import add_unique
from app.errors import Conflict, NotFound, Problem
from app.ids import has_prefix, new_id
from app.models.ledger import (
    AccountType,
    EntryKind,
    JournalEntry,
    JournalLine,
    LedgerAccount,
    LedgerContract,
)
from app.services.catalogue.currencies import is_supported, normalize_code

# --- the chart of accounts ------------------------------------------------------------------

STRIPE_BALANCE = "platform:stripe_balance"  # asset: the platform's balance at Stripe
FEES = "platform:fees"  # revenue: the brand-side service fee
CHARGEBACK_LOSSES = "platform:chargeback_losses"  # expense: chargebacks the platform absorbs
STRIPE_FEES = "platform:stripe_fees"  # expense: Stripe's processing fees (reconciliation)
EQUITY = "platform:equity"  # equity: the platform's own money put in or taken out
# asset: currency swapped by Stripe's settlement — per currency, what the deal-currency side
# gave and the settled side received (`conversion` entries); rounding stays here, visibly.
FX = "platform:fx"

PLATFORM_ACCOUNTS: Mapping[str, AccountType] = MappingProxyType(
    {
        STRIPE_BALANCE: AccountType.asset,
        FEES: AccountType.revenue,
        CHARGEBACK_LOSSES: AccountType.expense,
        STRIPE_FEES: AccountType.expense,
        EQUITY: AccountType.equity,
        FX: AccountType.asset,
    }
)
# Per-contract accounts: `<prefix>:ctr_…`. Both are liabilities that may never go negative.
ESCROW = "escrow"  # the brand's money held for the contract, not yet released
PAYABLE = "influencer_payable"  # released to the contract's influencer, not yet transferred
CONTRACT_ACCOUNTS: Mapping[str, AccountType] = MappingProxyType(
    {ESCROW: AccountType.liability, PAYABLE: AccountType.liability}
)

# PostgreSQL BIGINT; an amount beyond it is a bug upstream, not money.
_MAX_AMOUNT = 2**63 - 1


def escrow_account(contract_id: str) -> str:
    return f"{ESCROW}:{contract_id}"


def payable_account(contract_id: str) -> str:
    return f"{PAYABLE}:{contract_id}"


@dataclass(frozen=True)
class AccountRef:
    code: str
    type: AccountType
    contract_id: str | None = None


def parse_account(code: str) -> AccountRef:
    """The chart's entry for `code`; `InvalidEntry` when the code is not in the chart."""
    if code in PLATFORM_ACCOUNTS:
        return AccountRef(code, PLATFORM_ACCOUNTS[code])
    prefix, _, contract_id = code.partition(":") if isinstance(code, str) else ("", "", "")
    if prefix in CONTRACT_ACCOUNTS and has_prefix(contract_id, "contract"):
        return AccountRef(code, CONTRACT_ACCOUNTS[prefix], contract_id)
    raise InvalidEntry(f"{code!r} is not an account of the chart (docs/ledger.md)")


def normal_balance(account_type: AccountType, raw: int) -> int:
    """A raw debit-positive sum in the account's normal sign."""
    if account_type in (AccountType.asset, AccountType.expense):
        return raw
    return -raw


# --- problems -------------------------------------------------------------------------------


class InvalidEntry(Problem):
    """A malformed booking: a bug in the caller, never a client's input."""

    status, slug, title = 422, "ledger-invalid-entry", "The journal entry is not valid"


class LedgerKeyReused(Problem):
    status, slug, title = (
        422,
        "ledger-key-reused",
        "This idempotency key was already booked with other content",
    )


class CurrencyMismatch(Conflict):
    slug, title = "ledger-currency-mismatch", "The contract's money is held in another currency"


class InsufficientEscrow(Conflict):
    slug, title = "insufficient-escrow", "Not enough money is held in escrow for this contract"


class ReleaseExceedsFunding(Conflict):
    slug, title = "release-exceeds-funding", "The release would exceed what the brand funded"


class AlreadyReleased(Conflict):
    slug, title = "already-released", "This milestone was already released"


class NotReleased(Conflict):
    slug, title = "milestone-not-released", "This milestone's money has not been released"


class AlreadyTransferred(Conflict):
    slug, title = "already-transferred", "This milestone was already transferred"


class TransferExceedsRelease(Conflict):
    slug, title = "transfer-exceeds-release", "The transfer would exceed what was released"


class ReversalExceedsTransfer(Conflict):
    slug, title = "reversal-exceeds-transfer", "The reversal would exceed what was transferred"


class RefundExceedsCharge(Conflict):
    slug, title = "refund-exceeds-charge", "The refund would exceed what the brand paid"


class ChargebackExceedsCharge(Conflict):
    slug, title = "chargeback-exceeds-charge", "The chargeback would exceed what the brand paid"


class ChargebackNotFound(NotFound):
    slug, title = "chargeback-not-found", "No chargeback was booked for this dispute"


LEDGER_PROBLEMS: tuple[type[Problem], ...] = (
    InvalidEntry,
    LedgerKeyReused,
    CurrencyMismatch,
    InsufficientEscrow,
    ReleaseExceedsFunding,
    AlreadyReleased,
    NotReleased,
    AlreadyTransferred,
    TransferExceedsRelease,
    ReversalExceedsTransfer,
    RefundExceedsCharge,
    ChargebackExceedsCharge,
    ChargebackNotFound,
)


# --- pure validation ------------------------------------------------------------------------

Line = tuple[str, int, str]


def _amount(value: Any, what: str, *, positive: bool = True) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidEntry(f"{what} must be an integer number of minor units, not {value!r}")
    if value < 0 or (positive and value == 0):
        raise InvalidEntry(f"{what} must be {'positive' if positive else 'zero or more'}")
    if value > _MAX_AMOUNT:
        raise InvalidEntry(f"{what} is out of range")
    return value


def _currency(code: Any) -> str:
    if not isinstance(code, str) or not is_supported(code):
        raise InvalidEntry(f"{code!r} is not a supported ISO 4217 currency")
    return normalize_code(code)


def validate_lines(lines: Iterable[Sequence[Any]]) -> list[Line]:
    """Checked, normalised lines: known accounts and currencies, integer non-zero amounts, at
    least two lines, and a zero sum per currency. Raises `InvalidEntry`."""
    checked: list[Line] = []
    for i, line in enumerate(lines):
        if len(line) != 3:
            raise InvalidEntry(f"line {i} must be (account_code, amount, currency)")
        code, amount, currency = line
        parse_account(code)
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise InvalidEntry(f"line {i}: amount must be an integer of minor units: {amount!r}")
        if amount == 0:
            raise InvalidEntry(f"line {i}: a line may not be zero")
        if abs(amount) > _MAX_AMOUNT:
            raise InvalidEntry(f"line {i}: amount out of range")
        checked.append((code, amount, _currency(currency)))
    if len(checked) < 2:
        raise InvalidEntry("an entry needs at least two lines")
    sums: dict[str, int] = defaultdict(int)
    for _, amount, currency in checked:
        sums[currency] += amount
    unbalanced = {c: s for c, s in sums.items() if s != 0}
    if unbalanced:
        raise InvalidEntry(f"the entry does not balance: {unbalanced} (debits - credits)")
    return checked


def _check_scope(lines: list[Line], contract_id: str | None) -> str | None:
    """Per-contract accounts belong to the entry's contract; a contract's entry has one
    currency. Returns that currency (None for an entry without a contract)."""
    for code, _, _ in lines:
        owner = parse_account(code).contract_id
        if owner is not None and owner != contract_id:
            raise InvalidEntry(f"account {code} belongs to {owner}, not to the entry's contract")
    if contract_id is None:
        return None
    if not has_prefix(contract_id, "contract"):
        raise InvalidEntry(f"{contract_id!r} is not a contract id")
    currencies = {currency for _, _, currency in lines}
    if len(currencies) != 1:
        raise InvalidEntry("a contract's entry moves money in exactly one currency")
    return currencies.pop()


# --- balances -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContractMoney:
    """A contract's money, in minor units of `currency` (None when nothing was booked yet).

    funded        brand money put into escrow (funding charges, plus escrow adjustments)
    fees          service fees kept by the platform (net of fee refunds)
    released      moved from escrow to the influencer payable (milestone releases)
    transferred   paid out to the influencer's connected account (net of transfer reversals)
    refunded      escrow returned to the brand by refunds
    in_escrow     held in escrow now = funded - released - refunded - charged back from escrow
    payable       released but not (or no longer) transferred = released - transferred
    charged_back  taken back by chargebacks (net of chargeback reversals)
    chargeback_loss  the part of the chargebacks the platform absorbed (escrow did not cover)
    collected     what the brand paid and still has not got back (charges + fees - refunds -
                  chargebacks); the ceiling for any further refund or chargeback
    """

    contract_id: str
    currency: str | None
    funded: int = 0
    fees: int = 0
    released: int = 0
    transferred: int = 0
    refunded: int = 0
    in_escrow: int = 0
    payable: int = 0
    charged_back: int = 0
    chargeback_loss: int = 0
    collected: int = 0


def _money_from_rows(
    contract_id: str, currency: str | None, rows: Iterable[tuple[str, str, int]]
) -> ContractMoney:
    """ContractMoney from (entry kind, account code, raw debit-positive sum) rows."""
    escrow, payable = escrow_account(contract_id), payable_account(contract_id)
    funded = fees = released = transferred = refunded = 0
    in_escrow = payable_now = charged_back = loss = collected = 0
    for kind, code, raw in rows:
        raw = int(raw)
        if code == escrow:
            in_escrow -= raw
            if kind in (EntryKind.funding, EntryKind.adjustment):
                funded -= raw
            elif kind == EntryKind.refund:
                refunded += raw
        elif code == payable:
            payable_now -= raw
            if kind == EntryKind.release:
                released -= raw
            elif kind in (EntryKind.transfer, EntryKind.transfer_reversal):
                transferred += raw
        elif code == FEES:
            fees -= raw
        elif code == CHARGEBACK_LOSSES:
            loss += raw
        elif code == STRIPE_BALANCE:
            if kind in (EntryKind.chargeback, EntryKind.chargeback_reversal):
                charged_back -= raw
            if kind in (
                EntryKind.funding,
                EntryKind.refund,
                EntryKind.chargeback,
                EntryKind.chargeback_reversal,
            ):
                collected += raw
    return ContractMoney(
        contract_id=contract_id,
        currency=currency,
        funded=funded,
        fees=fees,
        released=released,
        transferred=transferred,
        refunded=refunded,
        in_escrow=in_escrow,
        payable=payable_now,
        charged_back=charged_back,
        chargeback_loss=loss,
        collected=collected,
    )


async def contract_balances(session: AsyncSession, contract_id: str) -> ContractMoney:
    """Everything the ledger knows about one contract's money (see `ContractMoney`)."""
    rows = await session.execute(
        select(
            LedgerContract.currency,
            JournalEntry.kind,
            LedgerAccount.code,
            func.sum(JournalLine.amount),
        )
        .select_from(LedgerContract)
        .outerjoin(JournalEntry, JournalEntry.contract_id == LedgerContract.contract_id)
        .outerjoin(JournalLine, JournalLine.entry_id == JournalEntry.id)
        .outerjoin(LedgerAccount, LedgerAccount.id == JournalLine.account_id)
        .where(LedgerContract.contract_id == contract_id)
        .group_by(LedgerContract.currency, JournalEntry.kind, LedgerAccount.code)
    )
    currency: str | None = None
    sums: list[tuple[str, str, int]] = []
    for pinned, kind, code, total in rows:
        currency = pinned
        if kind is not None and code is not None:
            sums.append((kind, code, total))
    return _money_from_rows(contract_id, currency, sums)


async def _contract_money(
    session: AsyncSession, contract_id: str, currency: str | None
) -> ContractMoney:
    rows = await session.execute(
        select(JournalEntry.kind, LedgerAccount.code, func.sum(JournalLine.amount))
        .join(JournalLine, JournalLine.entry_id == JournalEntry.id)
        .join(LedgerAccount, LedgerAccount.id == JournalLine.account_id)
        .where(JournalEntry.contract_id == contract_id)
        .group_by(JournalEntry.kind, LedgerAccount.code)
    )
    return _money_from_rows(contract_id, currency, rows)


async def account_balance(session: AsyncSession, code: str, currency: str) -> int:
    """The balance of one account in its normal sign (0 for an account never used)."""
    ref = parse_account(code)
    raw = await session.scalar(
        select(func.coalesce(func.sum(JournalLine.amount), 0))
        .join(LedgerAccount, LedgerAccount.id == JournalLine.account_id)
        .where(LedgerAccount.code == code, LedgerAccount.currency == _currency(currency))
    )
    return normal_balance(ref.type, int(raw or 0))


async def platform_balances(session: AsyncSession) -> dict[tuple[str, str], int]:
    """Every platform account's balance (normal sign) by (code, currency), in one query: what
    the reconciliation job compares with Stripe (`platform:stripe_balance` per currency)."""
    rows = await session.execute(
        select(LedgerAccount.code, LedgerAccount.currency, func.sum(JournalLine.amount))
        .join(JournalLine, JournalLine.account_id == LedgerAccount.id)
        .where(LedgerAccount.contract_id.is_(None))
        .group_by(LedgerAccount.code, LedgerAccount.currency)
    )
    return {
        (code, currency): normal_balance(PLATFORM_ACCOUNTS[code], int(total))
        for code, currency, total in rows
        if code in PLATFORM_ACCOUNTS
    }


@dataclass(frozen=True)
class _Milestone:
    contract_id: str | None = None
    released: int = 0  # the release entry's amount (0: not released)
    transferred: int = 0  # the transfer's amount (0: no transfer)
    reversed: int = 0  # reversed so far


async def _milestone(session: AsyncSession, milestone_id: str) -> _Milestone:
    rows = await session.execute(
        select(JournalEntry.contract_id, JournalEntry.kind, func.sum(JournalLine.amount))
        .join(JournalLine, JournalLine.entry_id == JournalEntry.id)
        .join(LedgerAccount, LedgerAccount.id == JournalLine.account_id)
        .where(JournalEntry.milestone_id == milestone_id, LedgerAccount.code.like(f"{PAYABLE}:%"))
        .group_by(JournalEntry.contract_id, JournalEntry.kind)
    )
    contract_id, released, transferred, reversed_ = None, 0, 0, 0
    for owner, kind, raw in rows:
        contract_id = contract_id or owner
        if kind == EntryKind.release:
            released -= int(raw)
        elif kind == EntryKind.transfer:
            transferred += int(raw)
        elif kind == EntryKind.transfer_reversal:
            reversed_ -= int(raw)
    return _Milestone(contract_id, released, transferred, reversed_)


# --- writing --------------------------------------------------------------------------------


def _insert(session: AsyncSession, model: Any) -> Any:
    dialect = session.get_bind().dialect.name
    return (pg_insert if dialect == "postgresql" else sqlite_insert)(model)


async def _lock_contract(
    session: AsyncSession, contract_id: str, currency: str, *, create: bool
) -> str | None:
    """Locks the contract's ledger row (created first when `create`) and checks its currency.
    Returns the pinned currency, or None when the contract has no row and `create` is false."""
    if not has_prefix(contract_id, "contract"):
        raise InvalidEntry(f"{contract_id!r} is not a contract id")
    if create:
        await session.execute(
            _insert(session, LedgerContract)
            .values(contract_id=contract_id, currency=currency, created_at=utcnow())
            .on_conflict_do_nothing(index_elements=["contract_id"])
        )
    pinned = await session.scalar(
        select(LedgerContract.currency)
        .where(LedgerContract.contract_id == contract_id)
        .with_for_update()
    )
    if pinned is not None and pinned != currency:
        raise CurrencyMismatch(
            f"Contract {contract_id} holds its money in {pinned}, not {currency}",
            contract_id=contract_id,
            contract_currency=pinned,
            currency=currency,
        )
    return pinned


async def _entry_by_key(session: AsyncSession, key: str) -> JournalEntry | None:
    return await session.scalar(
        select(JournalEntry)
        .options(selectinload(JournalEntry.lines).selectinload(JournalLine.account))
        .where(JournalEntry.idempotency_key == key)
        .execution_options(populate_existing=True)
    )


async def _accounts(
    session: AsyncSession, lines: list[Line]
) -> dict[tuple[str, str], LedgerAccount]:
    """The lines' accounts by (code, currency), creating the missing ones (lazily, once:
    `INSERT … ON CONFLICT DO NOTHING` on the unique (code, currency))."""
    wanted = {(code, currency) for code, _, currency in lines}

    async def known() -> dict[tuple[str, str], LedgerAccount]:
        found = await session.scalars(
            select(LedgerAccount).where(
                or_(
                    *(and_(LedgerAccount.code == c, LedgerAccount.currency == k) for c, k in wanted)
                )
            )
        )
        return {(a.code, a.currency): a for a in found}

    accounts = await known()
    missing = wanted - accounts.keys()
    if missing:
        now = utcnow()
        for code, currency in sorted(missing):
            ref = parse_account(code)
            await session.execute(
                _insert(session, LedgerAccount)
                .values(
                    id=new_id("ledger_account"),
                    code=code,
                    type=ref.type,
                    currency=currency,
                    contract_id=ref.contract_id,
                    created_at=now,
                )
                .on_conflict_do_nothing(index_elements=["code", "currency"])
            )
        accounts = await known()
    return accounts


def _entry_lines(entry: JournalEntry) -> list[Line]:
    return sorted((line.account.code, line.amount, line.currency) for line in entry.lines)


def _debits(entry: JournalEntry) -> int:
    return sum(line.amount for line in entry.lines if line.amount > 0)


def _replay(
    entry: JournalEntry,
    kind: EntryKind,
    contract_id: str | None,
    milestone_id: str | None,
    *,
    lines: list[Line] | None = None,
    total: int | None = None,
    mismatch: type[Problem] = LedgerKeyReused,
) -> JournalEntry:
    """The existing entry for a re-posted key, when it books the same event: same kind,
    contract and milestone, and the same lines (or, where the lines depend on the balances at
    the time, as for a chargeback, the same total). Else `mismatch`."""
    same = (
        entry.kind == kind
        and entry.contract_id == contract_id
        and entry.milestone_id == milestone_id
        and (lines is None or _entry_lines(entry) == sorted(x for x in lines if x[1] != 0))
        and (total is None or _debits(entry) == total)
    )
    if same:
        return entry
    requested = total if total is not None else sum(x[1] for x in lines or () if x[1] > 0)
    raise mismatch(
        f"{entry.idempotency_key!r} was already booked as {entry.id} ({entry.kind} of "
        f"{_debits(entry)} on {entry.contract_id}), not as this {kind} of {requested} "
        f"on {contract_id}",
        idempotency_key=entry.idempotency_key,
        entry_id=entry.id,
        booked_amount=_debits(entry),
        requested_amount=requested,
    )


async def _write(
    session: AsyncSession,
    kind: EntryKind,
    lines: list[Line],
    key: str,
    contract_id: str | None,
    milestone_id: str | None,
    external_ref: str | None,
    memo: str,
    now: datetime | None,
    *,
    locked: bool,
) -> tuple[JournalEntry, bool]:
    """Writes the entry and its lines (checked already).

    `locked`: the caller holds the contract's lock and found no entry with this key, so nobody
    else can be booking it — a plain insert. Otherwise (an entry without a contract) the insert
    runs in a savepoint: when a concurrent transaction booked the key first (on PostgreSQL the
    insert waits for it to commit, then breaks the unique key), the existing entry is returned.
    """
    accounts = await _accounts(session, lines)
    entry = JournalEntry(
        id=new_id("journal_entry"),
        kind=kind,
        contract_id=contract_id,
        milestone_id=milestone_id,
        idempotency_key=key,
        external_ref=external_ref,
        memo=memo,
        created_at=now or utcnow(),
        lines=[
            JournalLine(
                line_no=i, account=accounts[(code, currency)], amount=amount, currency=currency
            )
            for i, (code, amount, currency) in enumerate(lines)
        ],
    )
    if locked:
        session.add(entry)
        await session.flush()
        return entry, True
    if await add_unique(session, entry):
        return entry, True
    existing = await _entry_by_key(session, key)
    if existing is None:  # the savepoint failed for another reason than the key
        raise InvalidEntry(f"the entry for {key!r} could not be written")
    return _replay(existing, kind, contract_id, milestone_id, lines=lines), False


def _entry_kind(kind: Any) -> EntryKind:
    try:
        return EntryKind(kind)
    except ValueError:
        raise InvalidEntry(f"{kind!r} is not a journal entry kind") from None


def _key(key: Any) -> str:
    if not isinstance(key, str) or not key.strip() or len(key) > 200:
        raise InvalidEntry("an idempotency key is a non-empty string of at most 200 characters")
    return key


async def _check_liabilities(session: AsyncSession, contract_id: str, lines: list[Line]) -> None:
    """No per-contract liability (escrow, payable) may go below zero."""
    money = await _contract_money(session, contract_id, None)
    delta: dict[str, int] = defaultdict(int)
    for code, amount, _ in lines:
        delta[code] -= amount  # liabilities: credit-positive
    escrow_after = money.in_escrow + delta.get(escrow_account(contract_id), 0)
    if escrow_after < 0:
        raise InsufficientEscrow(
            f"Escrow of {contract_id} would be {escrow_after}",
            contract_id=contract_id,
            available=money.in_escrow,
            requested=money.in_escrow - escrow_after,
        )
    payable_after = money.payable + delta.get(payable_account(contract_id), 0)
    if payable_after < 0:
        raise TransferExceedsRelease(
            f"The influencer payable of {contract_id} would be {payable_after}",
            contract_id=contract_id,
            available=money.payable,
            requested=money.payable - payable_after,
        )


async def post_entry(
    session: AsyncSession,
    kind: EntryKind | str,
    lines: Sequence[Sequence[Any]],
    idempotency_key: str,
    contract_id: str | None = None,
    milestone_id: str | None = None,
    external_ref: str | None = None,
    memo: str = "",
    *,
    now: datetime | None = None,
) -> tuple[JournalEntry, bool]:
    """Books one entry of `(account_code, amount, currency)` lines; `(entry, created)`.

    Checks: known kind, accounts and currencies; integer, non-zero lines; zero sum per currency;
    per-contract accounts only in their contract's entries, in the contract's currency; no
    escrow or payable below zero. A key booked before returns that entry (`created=False`) if
    the content is the same, else raises `LedgerKeyReused`.

    The money flows should use the `book_*` helpers, which also enforce the business rules;
    this is for operators' adjustments and platform-level entries (Stripe fees, equity).
    """
    entry_kind = _entry_kind(kind)
    key = _key(idempotency_key)
    checked = validate_lines(lines)
    currency = _check_scope(checked, contract_id)
    locked = contract_id is not None and currency is not None
    if locked:
        assert contract_id is not None and currency is not None
        await _lock_contract(session, contract_id, currency, create=True)
        existing = await _entry_by_key(session, key)
        if existing is not None:
            return _replay(existing, entry_kind, contract_id, milestone_id, lines=checked), False
        await _check_liabilities(session, contract_id, checked)
    return await _write(
        session,
        entry_kind,
        checked,
        key,
        contract_id,
        milestone_id,
        external_ref,
        memo,
        now,
        locked=locked,
    )


# --- the bookings of the money flows --------------------------------------------------------


@dataclass
class _Booking:
    """What a booking learns under the contract's lock before it decides."""

    contract_id: str
    currency: str
    existing: JournalEntry | None
    money: ContractMoney
    pinned: bool  # the contract already has its ledger row


async def _begin(
    session: AsyncSession, contract_id: str, currency: str, key: str, *, create: bool = False
) -> _Booking:
    """The start of every booking: lock the contract, look the key up, read the balances."""
    pinned = await _lock_contract(session, contract_id, currency, create=create)
    existing = await _entry_by_key(session, key)
    if existing is not None or pinned is None:
        money = ContractMoney(contract_id, pinned)
    else:
        money = await _contract_money(session, contract_id, pinned)
    return _Booking(contract_id, currency, existing, money, pinned is not None)


async def _book(
    session: AsyncSession,
    booking: _Booking,
    kind: EntryKind,
    lines: list[Line],
    key: str,
    milestone_id: str | None,
    external_ref: str | None,
    memo: str,
    now: datetime | None,
) -> tuple[JournalEntry, bool]:
    checked = validate_lines([line for line in lines if line[1] != 0])
    _check_scope(checked, booking.contract_id)
    if not booking.pinned:  # the contract's first booking: its lock row comes first
        await _lock_contract(session, booking.contract_id, booking.currency, create=True)
    return await _write(
        session,
        kind,
        checked,
        key,
        booking.contract_id,
        milestone_id,
        external_ref,
        memo,
        now,
        locked=True,
    )


def _milestone_id(milestone_id: Any) -> str:
    if not isinstance(milestone_id, str) or not has_prefix(milestone_id, "milestone"):
        raise InvalidEntry(f"{milestone_id!r} is not a milestone id")
    return milestone_id


def _ref(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 180:
        raise InvalidEntry(f"{what} must be a non-empty string (the Stripe object id)")
    return value


async def book_funding(
    session: AsyncSession,
    contract_id: str,
    amount: int,
    fee: int,
    currency: str,
    charge_id: str,
    *,
    memo: str = "",
    now: datetime | None = None,
) -> tuple[JournalEntry, bool]:
    """The brand's charge succeeded: `amount` (the agreed price) is held in escrow and `fee`
    (the brand-side service fee) is the platform's. Key `funding:{charge_id}`.
    Dr stripe_balance amount+fee / Cr escrow amount / Cr fees fee."""
    amount, fee = _amount(amount, "amount"), _amount(fee, "fee", positive=False)
    cur, key = _currency(currency), f"funding:{_ref(charge_id, 'charge_id')}"
    lines = [
        (STRIPE_BALANCE, amount + fee, cur),
        (escrow_account(contract_id), -amount, cur),
        (FEES, -fee, cur),
    ]
    booking = await _begin(session, contract_id, cur, key, create=True)
    if (existing := booking.existing) is not None:
        return _replay(existing, EntryKind.funding, contract_id, None, lines=lines), False
    return await _book(session, booking, EntryKind.funding, lines, key, None, charge_id, memo, now)


async def book_release(
    session: AsyncSession,
    contract_id: str,
    milestone_id: str,
    amount: int,
    currency: str,
    *,
    memo: str = "",
    now: datetime | None = None,
) -> tuple[JournalEntry, bool]:
    """A milestone is met: its amount moves from escrow to the influencer payable.
    Key `release:{milestone_id}` (one release per milestone). Dr escrow / Cr influencer_payable.
    Refused beyond the escrow (`InsufficientEscrow`) or beyond what was funded net of refunds
    (`ReleaseExceedsFunding`); a second release of the milestone with another amount or
    contract is `AlreadyReleased`."""
    amount, cur = _amount(amount, "amount"), _currency(currency)
    key = f"release:{_milestone_id(milestone_id)}"
    lines = [
        (escrow_account(contract_id), amount, cur),
        (payable_account(contract_id), -amount, cur),
    ]
    booking = await _begin(session, contract_id, cur, key)
    if (existing := booking.existing) is not None:
        entry = _replay(
            existing,
            EntryKind.release,
            contract_id,
            milestone_id,
            lines=lines,
            mismatch=AlreadyReleased,
        )
        return entry, False
    money = booking.money
    if amount > money.in_escrow:
        raise InsufficientEscrow(
            f"Releasing {amount} {cur} for {milestone_id} needs more than the {money.in_escrow} "
            f"held in escrow for {contract_id}",
            contract_id=contract_id,
            milestone_id=milestone_id,
            requested=amount,
            available=money.in_escrow,
            currency=cur,
        )
    ceiling = money.funded - money.refunded
    if money.released + amount > ceiling:
        raise ReleaseExceedsFunding(
            f"{contract_id} would have released {money.released + amount} {cur} of "
            f"{ceiling} funded (net of refunds)",
            contract_id=contract_id,
            milestone_id=milestone_id,
            requested=amount,
            released=money.released,
            funded=money.funded,
            refunded=money.refunded,
            currency=cur,
        )
    return await _book(
        session, booking, EntryKind.release, lines, key, milestone_id, None, memo, now
    )


async def book_transfer(
    session: AsyncSession,
    contract_id: str,
    milestone_id: str,
    amount: int,
    currency: str,
    transfer_id: str,
    *,
    memo: str = "",
    now: datetime | None = None,
) -> tuple[JournalEntry, bool]:
    """The Stripe Transfer of a released milestone to the influencer's connected account
    succeeded. Key `transfer:{milestone_id}` (one transfer per milestone).
    Dr influencer_payable / Cr stripe_balance. Refused for a milestone not released
    (`NotReleased`) or beyond its release (`TransferExceedsRelease`)."""
    amount, cur = _amount(amount, "amount"), _currency(currency)
    key = f"transfer:{_milestone_id(milestone_id)}"
    transfer_id = _ref(transfer_id, "transfer_id")
    lines = [(payable_account(contract_id), amount, cur), (STRIPE_BALANCE, -amount, cur)]
    booking = await _begin(session, contract_id, cur, key)
    if (existing := booking.existing) is not None:
        entry = _replay(
            existing,
            EntryKind.transfer,
            contract_id,
            milestone_id,
            lines=lines,
            mismatch=AlreadyTransferred,
        )
        return entry, False
    milestone = await _milestone(session, milestone_id)
    if milestone.released == 0 or milestone.contract_id != contract_id:
        raise NotReleased(
            f"Milestone {milestone_id} of {contract_id} has no release to transfer",
            contract_id=contract_id,
            milestone_id=milestone_id,
        )
    money = booking.money
    if amount > milestone.released or amount > money.payable:
        raise TransferExceedsRelease(
            f"Transferring {amount} {cur} for {milestone_id} exceeds its release of "
            f"{milestone.released} (payable on {contract_id}: {money.payable})",
            contract_id=contract_id,
            milestone_id=milestone_id,
            requested=amount,
            released=milestone.released,
            payable=money.payable,
            currency=cur,
        )
    return await _book(
        session, booking, EntryKind.transfer, lines, key, milestone_id, transfer_id, memo, now
    )


async def book_transfer_reversal(
    session: AsyncSession,
    contract_id: str,
    milestone_id: str,
    amount: int,
    currency: str,
    reversal_id: str,
    *,
    memo: str = "",
    now: datetime | None = None,
) -> tuple[JournalEntry, bool]:
    """A Stripe transfer reversal (full or partial) brought money back from the connected
    account; it is owed to the influencer again (payable). Key `transfer_reversal:{reversal_id}`.
    Dr stripe_balance / Cr influencer_payable. Refused beyond what the milestone's transfer
    still has unreversed (`ReversalExceedsTransfer`)."""
    amount, cur = _amount(amount, "amount"), _currency(currency)
    _milestone_id(milestone_id)
    key = f"transfer_reversal:{_ref(reversal_id, 'reversal_id')}"
    lines = [(STRIPE_BALANCE, amount, cur), (payable_account(contract_id), -amount, cur)]
    booking = await _begin(session, contract_id, cur, key)
    if (existing := booking.existing) is not None:
        entry = _replay(
            existing, EntryKind.transfer_reversal, contract_id, milestone_id, lines=lines
        )
        return entry, False
    milestone = await _milestone(session, milestone_id)
    outstanding = milestone.transferred - milestone.reversed
    if milestone.contract_id != contract_id or amount > outstanding:
        raise ReversalExceedsTransfer(
            f"Reversing {amount} {cur} of {milestone_id} exceeds the {outstanding} transferred "
            "and not yet reversed",
            contract_id=contract_id,
            milestone_id=milestone_id,
            requested=amount,
            transferred=milestone.transferred,
            reversed=milestone.reversed,
            currency=cur,
        )
    return await _book(
        session,
        booking,
        EntryKind.transfer_reversal,
        lines,
        key,
        milestone_id,
        reversal_id,
        memo,
        now,
    )


async def book_refund(
    session: AsyncSession,
    contract_id: str,
    amount: int,
    currency: str,
    refund_id: str,
    *,
    fee_amount: int = 0,
    memo: str = "",
    now: datetime | None = None,
) -> tuple[JournalEntry, bool]:
    """A Stripe refund to the brand: `amount` of unreleased escrow, plus `fee_amount` of the
    service fee when the platform gives that back too. Key `refund:{refund_id}`.
    Dr escrow amount / Dr fees fee_amount / Cr stripe_balance amount+fee_amount. Refused beyond
    the escrow (`InsufficientEscrow`) or beyond the fees or what the brand paid and has not got
    back (`RefundExceedsCharge`)."""
    amount = _amount(amount, "amount", positive=False)
    fee_amount = _amount(fee_amount, "fee_amount", positive=False)
    if amount + fee_amount == 0:
        raise InvalidEntry("a refund must move some money")
    cur, key = _currency(currency), f"refund:{_ref(refund_id, 'refund_id')}"
    lines = [
        (escrow_account(contract_id), amount, cur),
        (FEES, fee_amount, cur),
        (STRIPE_BALANCE, -(amount + fee_amount), cur),
    ]
    booking = await _begin(session, contract_id, cur, key)
    if (existing := booking.existing) is not None:
        return _replay(existing, EntryKind.refund, contract_id, None, lines=lines), False
    money = booking.money
    if amount > money.in_escrow:
        raise InsufficientEscrow(
            f"Refunding {amount} {cur} exceeds the {money.in_escrow} unreleased in escrow "
            f"for {contract_id}",
            contract_id=contract_id,
            requested=amount,
            available=money.in_escrow,
            currency=cur,
        )
    if fee_amount > money.fees or amount + fee_amount > money.collected:
        raise RefundExceedsCharge(
            f"Refunding {amount} + {fee_amount} fee {cur} exceeds what the brand of "
            f"{contract_id} paid and has not got back ({money.collected}; fees {money.fees})",
            contract_id=contract_id,
            requested=amount + fee_amount,
            collected=money.collected,
            fees=money.fees,
            currency=cur,
        )
    return await _book(session, booking, EntryKind.refund, lines, key, None, refund_id, memo, now)


async def book_chargeback(
    session: AsyncSession,
    contract_id: str,
    amount: int,
    currency: str,
    dispute_id: str,
    *,
    memo: str = "",
    now: datetime | None = None,
) -> tuple[JournalEntry, bool]:
    """Stripe took `amount` back for a dispute on the contract's charge. What is still in
    escrow covers it first (that money can then be neither released nor refunded: the
    contract's money is frozen); the rest is the platform's loss. Key `chargeback:{dispute_id}`.
    Dr escrow min(amount, in_escrow) / Dr chargeback_losses the rest / Cr stripe_balance amount.
    Refused beyond what the brand paid and has not got back (`ChargebackExceedsCharge`)."""
    amount, cur = _amount(amount, "amount"), _currency(currency)
    key = f"chargeback:{_ref(dispute_id, 'dispute_id')}"
    booking = await _begin(session, contract_id, cur, key)
    if (existing := booking.existing) is not None:
        entry = _replay(existing, EntryKind.chargeback, contract_id, None, total=amount)
        return entry, False
    money = booking.money
    if amount > money.collected:
        raise ChargebackExceedsCharge(
            f"A chargeback of {amount} {cur} exceeds the {money.collected} the brand of "
            f"{contract_id} paid and has not got back",
            contract_id=contract_id,
            requested=amount,
            collected=money.collected,
            currency=cur,
        )
    from_escrow = min(amount, money.in_escrow)
    lines = [
        (escrow_account(contract_id), from_escrow, cur),
        (CHARGEBACK_LOSSES, amount - from_escrow, cur),
        (STRIPE_BALANCE, -amount, cur),
    ]
    return await _book(
        session, booking, EntryKind.chargeback, lines, key, None, dispute_id, memo, now
    )


async def book_chargeback_reversal(
    session: AsyncSession,
    contract_id: str,
    amount: int,
    currency: str,
    dispute_id: str,
    *,
    memo: str = "",
    now: datetime | None = None,
) -> tuple[JournalEntry, bool]:
    """The platform won the dispute and Stripe returned the money: the chargeback's lines are
    reversed exactly (escrow refilled, the loss undone). Key `chargeback_reversal:{dispute_id}`.
    `amount` must be the chargeback's (a dispute is won in full); no chargeback for the
    dispute on this contract is `ChargebackNotFound`."""
    amount, cur = _amount(amount, "amount"), _currency(currency)
    key = f"chargeback_reversal:{_ref(dispute_id, 'dispute_id')}"
    booking = await _begin(session, contract_id, cur, key)
    if (existing := booking.existing) is not None:
        entry = _replay(existing, EntryKind.chargeback_reversal, contract_id, None, total=amount)
        return entry, False
    chargeback = await _entry_by_key(session, f"chargeback:{dispute_id}")
    if chargeback is None or chargeback.contract_id != contract_id:
        raise ChargebackNotFound(
            f"No chargeback for dispute {dispute_id} on {contract_id}",
            contract_id=contract_id,
            dispute_id=dispute_id,
        )
    if _debits(chargeback) != amount:
        raise LedgerKeyReused(
            f"The chargeback for {dispute_id} was {_debits(chargeback)} {cur}, not {amount}",
            dispute_id=dispute_id,
            booked_amount=_debits(chargeback),
            requested_amount=amount,
        )
    lines = [(line.account.code, -line.amount, line.currency) for line in chargeback.lines]
    return await _book(
        session,
        booking,
        EntryKind.chargeback_reversal,
        lines,
        key,
        None,
        dispute_id,
        memo,
        now,
    )


async def book_conversion(
    session: AsyncSession,
    *,
    amount: int,
    currency: str,
    settled_amount: int,
    settled_currency: str,
    incoming: bool,
    txn_id: str,
    source: str,
    milestone_id: str | None = None,
    memo: str = "",
    now: datetime | None = None,
) -> tuple[JournalEntry, bool] | None:
    """Stripe moved `amount` `currency` (the deal's, as the contract's entry booked it) as
    `settled_amount` `settled_currency` on the platform's balance (its balance transaction
    `txn_id` of the Stripe object `source`). The deal-currency side of `platform:stripe_balance`
    is swapped for the settled one through `platform:fx`:
    incoming (a charge, a reinstatement, a transfer reversal) Cr stripe_balance amount /
    Dr fx amount, Dr stripe_balance settled / Cr fx settled; outgoing the opposite. Key
    `conversion:{txn_id}`; platform accounts only (the contract's own entry stays in the deal
    currency). None when nothing was converted."""
    cur, settled_cur = _currency(currency), _currency(settled_currency)
    if cur == settled_cur:
        return None
    amount = _amount(amount, "amount")
    settled_amount = _amount(settled_amount, "settled_amount")
    sign = 1 if incoming else -1
    lines = [
        (STRIPE_BALANCE, -sign * amount, cur),
        (FX, sign * amount, cur),
        (STRIPE_BALANCE, sign * settled_amount, settled_cur),
        (FX, -sign * settled_amount, settled_cur),
    ]
    return await post_entry(
        session,
        EntryKind.conversion,
        lines,
        f"conversion:{_ref(txn_id, 'txn_id')}",
        milestone_id=milestone_id,
        external_ref=source,
        memo=memo,
        now=now,
    )


# --- the whole ledger's invariants ----------------------------------------------------------


@dataclass(frozen=True)
class LedgerAudit:
    """The whole ledger in two aggregate queries: every violated invariant (one sentence each,
    empty when sound), every contract's money, and every platform account's balance (normal
    sign) by (code, currency)."""

    problems: list[str]
    contracts: dict[str, ContractMoney]
    platform: dict[tuple[str, str], int]


async def check_invariants(session: AsyncSession) -> list[str]:
    """Every violated invariant across the whole ledger, one sentence each; [] when sound."""
    return (await audit(session)).problems


async def audit(session: AsyncSession) -> LedgerAudit:
    """Checks every invariant over the whole ledger (see docs/ledger.md) and sums it up."""
    problems: list[str] = []

    # Per entry and currency: the sum, and the lines that are zero or in another currency than
    # their account. (An entry with a single line cannot balance, so it shows up here too.)
    bad_line = case(
        (or_(JournalLine.amount == 0, JournalLine.currency != LedgerAccount.currency), 1), else_=0
    )
    per_entry = await session.execute(
        select(
            JournalLine.entry_id,
            JournalLine.currency,
            func.sum(JournalLine.amount),
            func.sum(bad_line),
        )
        .join(LedgerAccount, LedgerAccount.id == JournalLine.account_id)
        .group_by(JournalLine.entry_id, JournalLine.currency)
        .having(or_(func.sum(JournalLine.amount) != 0, func.sum(bad_line) > 0))
    )
    for entry_id, currency, total, bad in per_entry:
        if total != 0:
            problems.append(f"entry {entry_id} does not sum to zero in {currency}: {total}")
        if bad:
            problems.append(
                f"entry {entry_id} has {bad} line(s) in {currency} that are zero or in another "
                "currency than their account"
            )

    # Everything else from one aggregate over entries, lines, accounts and the contracts' pins.
    per_contract: dict[str, list[tuple[str, str, int]]] = defaultdict(list)
    per_milestone: dict[tuple[str, str | None], dict[str, int]] = defaultdict(
        lambda: defaultdict(int)
    )
    currencies: dict[str, str | None] = {}
    platform: dict[tuple[str, str], int] = defaultdict(int)
    rows = await session.execute(
        select(
            JournalEntry.contract_id,
            JournalEntry.milestone_id,
            JournalEntry.kind,
            LedgerAccount.code,
            JournalLine.currency,
            func.sum(JournalLine.amount),
            func.count(func.distinct(JournalEntry.id)),
            LedgerContract.currency,
        )
        .select_from(JournalEntry)
        .outerjoin(JournalLine, JournalLine.entry_id == JournalEntry.id)
        .outerjoin(LedgerAccount, LedgerAccount.id == JournalLine.account_id)
        .outerjoin(LedgerContract, LedgerContract.contract_id == JournalEntry.contract_id)
        .group_by(
            JournalEntry.contract_id,
            JournalEntry.milestone_id,
            JournalEntry.kind,
            LedgerAccount.code,
            JournalLine.currency,
            LedgerContract.currency,
        )
    )
    for contract_id, milestone_id, kind, account_code, currency, total, entries, pinned in rows:
        # Outer joins: an entry without lines has no account code, which the column's type
        # (NOT NULL) cannot say.
        code = cast(str | None, account_code)
        if code is None:
            problems.append(f"{entries} {kind} entries of {contract_id} have no lines")
            continue
        total = int(total)
        try:
            ref = parse_account(code)
        except InvalidEntry:
            problems.append(f"account {code} is not in the chart of accounts")
            continue
        if ref.contract_id is None:
            platform[(code, currency)] += total
        elif ref.contract_id != contract_id:
            problems.append(f"account {code} is moved by an entry of {contract_id}")
        if contract_id is None:
            continue
        currencies[contract_id] = pinned
        if pinned != currency:
            problems.append(
                f"contract {contract_id} has lines in {currency}, but its money is held in {pinned}"
            )
        per_contract[contract_id].append((kind, code, total))
        if kind in (EntryKind.release, EntryKind.transfer, EntryKind.transfer_reversal):
            if milestone_id is None:
                problems.append(f"a {kind} entry of {contract_id} names no milestone")
            elif code == payable_account(contract_id):
                stats = per_milestone[(contract_id, milestone_id)]
                stats[kind] += -total if kind != EntryKind.transfer else total
                stats[f"{kind}#"] = entries

    contracts: dict[str, ContractMoney] = {}
    for contract_id, contract_rows in per_contract.items():
        money = _money_from_rows(contract_id, currencies.get(contract_id), contract_rows)
        contracts[contract_id] = money
        if money.in_escrow < 0:
            problems.append(f"escrow of {contract_id} is negative: {money.in_escrow}")
        if money.payable < 0:
            problems.append(f"influencer payable of {contract_id} is negative: {money.payable}")
        if money.transferred > money.released:
            problems.append(
                f"{contract_id} transferred {money.transferred} > released {money.released}"
            )
        if money.released > money.funded - money.refunded:
            problems.append(
                f"{contract_id} released {money.released} > funded {money.funded} "
                f"- refunded {money.refunded}"
            )
        if money.collected < 0:
            problems.append(f"{contract_id} gave its brand back more than it paid")

    milestone_owner: dict[str, str] = {}
    for (contract_id, milestone_id), stats in per_milestone.items():
        assert milestone_id is not None
        other = milestone_owner.setdefault(milestone_id, contract_id)
        if other != contract_id:
            problems.append(f"milestone {milestone_id} is booked on {other} and {contract_id}")
        for kind in (EntryKind.release, EntryKind.transfer):
            if stats.get(f"{kind}#", 0) > 1:
                problems.append(f"milestone {milestone_id} has {stats[f'{kind}#']} {kind} entries")
        net = stats.get(EntryKind.transfer, 0) - stats.get(EntryKind.transfer_reversal, 0)
        if net > stats.get(EntryKind.release, 0):
            problems.append(
                f"milestone {milestone_id} transferred {net} > released "
                f"{stats.get(EntryKind.release, 0)}"
            )
        if net < 0:
            problems.append(f"milestone {milestone_id} reversed more than it transferred")
    balances = {
        (code, currency): normal_balance(PLATFORM_ACCOUNTS[code], total)
        for (code, currency), total in platform.items()
    }
    return LedgerAudit(problems, contracts, balances)
