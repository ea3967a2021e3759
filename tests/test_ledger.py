"""The double-entry ledger (services/money/ledger.py): every booking and its refusals, idempotent
re-posts, a zero-decimal currency, concurrency on one contract, and a hypothesis state machine
that drives random sequences of the money flows against a model of the expected balances.

The state machine runs the real service on the suite's database, with a fresh set of 2-3
contracts (USD, JPY, EUR) and emptied ledger tables per example, and checks `audit` (every
invariant, every contract's money, the platform accounts) against its model after every step.
Its size: `RAPPORT_LEDGER_STEPS` rule executions in total, at most `STEPS_PER_EXAMPLE` per
example; the test prints the steps it ran. The default suite runs 1,000 on each database;
`make test-deep` (which `make test`, and so CI, runs once) runs 10,000 on SQLite.
Measured on the shared 2-core build machine (load average ~6 from other work):
SQLite 10,002 steps in 342 examples, 115 s CPU (253 s wall); PostgreSQL 2,028 steps in 64
examples, 16 s CPU (41 s wall). Each step costs ~10 statements (booking + audit), and through
aiosqlite's thread that is ~11 ms of CPU.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import delete, func, insert, select

from app.db import Database, create_database
from app.errors import Problem
from app.ids import new_id
from app.models.ledger import (
    AccountType,
    JournalEntry,
    JournalLine,
    LedgerAccount,
    LedgerContract,
)
from app.services.money import ledger
from app.services.money.ledger import (
    CHARGEBACK_LOSSES,
    EQUITY,
    FEES,
    STRIPE_BALANCE,
    AlreadyReleased,
    AlreadyTransferred,
    ChargebackExceedsCharge,
    ChargebackNotFound,
    ContractMoney,
    CurrencyMismatch,
    InsufficientEscrow,
    InvalidEntry,
    LedgerKeyReused,
    NotReleased,
    RefundExceedsCharge,
    ReleaseExceedsFunding,
    ReversalExceedsTransfer,
    TransferExceedsRelease,
    escrow_account,
    payable_account,
)
from tests.conftest import BACKEND, make_settings

# --- helpers ----------------------------------------------------------------------------------


async def tx(database: Database, fn: Callable[..., Awaitable[Any]], *args: Any, **kw: Any) -> Any:
    """One transaction, as a request would run it: commit on success, roll back on error."""
    async with database.sessionmaker() as session, session.begin():
        return await fn(session, *args, **kw)


async def money(database: Database, contract_id: str) -> ContractMoney:
    async with database.sessionmaker() as session:
        return await ledger.contract_balances(session, contract_id)


async def balance(database: Database, code: str, currency: str) -> int:
    async with database.sessionmaker() as session:
        return await ledger.account_balance(session, code, currency)


async def invariants(database: Database) -> list[str]:
    async with database.sessionmaker() as session:
        return await ledger.check_invariants(session)


async def entry_count(database: Database, **where: Any) -> int:
    async with database.sessionmaker() as session:
        stmt = select(func.count()).select_from(JournalEntry)
        for column, value in where.items():
            stmt = stmt.where(getattr(JournalEntry, column) == value)
        return int(await session.scalar(stmt) or 0)


def lines_of(entry: JournalEntry) -> list[tuple[str, int, str]]:
    return sorted((line.account.code, line.amount, line.currency) for line in entry.lines)


def ctr() -> str:
    return new_id("contract")


def mst() -> str:
    return new_id("milestone")


async def funded(database: Database, amount: int = 10_000, fee: int = 1_000, cur: str = "USD"):
    contract_id = ctr()
    await tx(database, ledger.book_funding, contract_id, amount, fee, cur, f"ch_{contract_id}")
    return contract_id


# --- pure functions ---------------------------------------------------------------------------


def test_chart_of_accounts_parses_known_codes_only():
    contract_id = ctr()
    assert ledger.parse_account(STRIPE_BALANCE).type is AccountType.asset
    assert ledger.parse_account(FEES).type is AccountType.revenue
    assert ledger.parse_account(CHARGEBACK_LOSSES).type is AccountType.expense
    assert ledger.parse_account(EQUITY).type is AccountType.equity
    escrow = ledger.parse_account(escrow_account(contract_id))
    assert (escrow.type, escrow.contract_id) == (AccountType.liability, contract_id)
    assert ledger.parse_account(payable_account(contract_id)).type is AccountType.liability
    for bad in ("escrow:", "escrow:brf_01", f"escrow:{mst()}", "platform:cash", "refunds", ""):
        with pytest.raises(InvalidEntry):
            ledger.parse_account(bad)


def test_normal_balance_sign():
    assert ledger.normal_balance(AccountType.asset, 100) == 100
    assert ledger.normal_balance(AccountType.expense, 100) == 100
    assert ledger.normal_balance(AccountType.liability, -100) == 100
    assert ledger.normal_balance(AccountType.revenue, -100) == 100
    assert ledger.normal_balance(AccountType.equity, -100) == 100


def test_validate_lines_accepts_balanced_entries_and_normalises_currency():
    lines = [(STRIPE_BALANCE, 500, "usd"), (EQUITY, -500, " USD ")]
    assert ledger.validate_lines(lines) == [(STRIPE_BALANCE, 500, "USD"), (EQUITY, -500, "USD")]
    # Two currencies, each balanced on its own.
    ledger.validate_lines(
        [
            (STRIPE_BALANCE, 5, "USD"),
            (EQUITY, -5, "USD"),
            (STRIPE_BALANCE, 7, "JPY"),
            (EQUITY, -7, "JPY"),
        ]
    )


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([(STRIPE_BALANCE, 500, "USD"), (EQUITY, -499, "USD")], "does not balance"),
        ([(STRIPE_BALANCE, 500, "USD"), (EQUITY, -500, "JPY")], "does not balance"),
        ([(STRIPE_BALANCE, 0, "USD"), (EQUITY, 0, "USD")], "may not be zero"),
        ([(STRIPE_BALANCE, 5.0, "USD"), (EQUITY, -5, "USD")], "integer"),
        ([(STRIPE_BALANCE, True, "USD"), (EQUITY, -1, "USD")], "integer"),
        ([(STRIPE_BALANCE, 5, "XXX"), (EQUITY, -5, "XXX")], "currency"),
        ([(STRIPE_BALANCE, 5, "USD"), ("platform:nowhere", -5, "USD")], "not an account"),
        ([(STRIPE_BALANCE, 5, "USD")], "at least two lines"),
        ([(STRIPE_BALANCE, 2**63, "USD"), (EQUITY, -(2**63), "USD")], "out of range"),
        ([(STRIPE_BALANCE, 5)], "must be (account_code, amount, currency)"),
    ],
)
def test_validate_lines_refuses_malformed_entries(lines, message):
    with pytest.raises(InvalidEntry, match=message.replace("(", r"\(").replace(")", r"\)")):
        ledger.validate_lines(lines)


def test_money_from_rows_derives_every_figure():
    c = ctr()
    e, p = escrow_account(c), payable_account(c)
    rows = [
        ("funding", STRIPE_BALANCE, 1100),
        ("funding", e, -1000),
        ("funding", FEES, -100),
        ("release", e, 600),
        ("release", p, -600),
        ("transfer", p, 600),
        ("transfer", STRIPE_BALANCE, -600),
        ("transfer_reversal", STRIPE_BALANCE, 100),
        ("transfer_reversal", p, -100),
        ("refund", e, 300),
        ("refund", FEES, 50),
        ("refund", STRIPE_BALANCE, -350),
        ("chargeback", e, 100),
        ("chargeback", CHARGEBACK_LOSSES, 200),
        ("chargeback", STRIPE_BALANCE, -300),
    ]
    assert ledger._money_from_rows(c, "USD", rows) == ContractMoney(
        contract_id=c,
        currency="USD",
        funded=1000,
        fees=50,
        released=600,
        transferred=500,
        refunded=300,
        in_escrow=0,
        payable=100,
        charged_back=300,
        chargeback_loss=200,
        collected=450,
    )


# --- bookings ---------------------------------------------------------------------------------


async def test_funding_holds_the_price_in_escrow_and_keeps_the_fee(database):
    c = ctr()
    entry, created = await tx(database, ledger.book_funding, c, 10_000, 1_500, "usd", "ch_1")
    assert created and entry.id.startswith("jrn_") and entry.kind == "funding"
    assert (entry.contract_id, entry.external_ref, entry.idempotency_key) == (
        c,
        "ch_1",
        "funding:ch_1",
    )
    assert lines_of(entry) == sorted(
        [
            (STRIPE_BALANCE, 11_500, "USD"),
            (escrow_account(c), -10_000, "USD"),
            (FEES, -1_500, "USD"),
        ]
    )
    m = await money(database, c)
    assert (m.currency, m.funded, m.fees, m.in_escrow, m.collected) == (
        "USD",
        10_000,
        1_500,
        10_000,
        11_500,
    )
    assert await balance(database, STRIPE_BALANCE, "USD") == 11_500
    assert await balance(database, escrow_account(c), "USD") == 10_000
    assert await balance(database, FEES, "USD") == 1_500
    assert await invariants(database) == []


async def test_funding_without_fee_has_no_fee_line(database):
    c = ctr()
    entry, _ = await tx(database, ledger.book_funding, c, 10_000, 0, "EUR", "ch_nofee")
    assert lines_of(entry) == sorted(
        [(STRIPE_BALANCE, 10_000, "EUR"), (escrow_account(c), -10_000, "EUR")]
    )


async def test_a_reposted_event_is_booked_once(database):
    c = ctr()
    first, created = await tx(database, ledger.book_funding, c, 10_000, 1_000, "USD", "ch_dup")
    again, created_again = await tx(
        database, ledger.book_funding, c, 10_000, 1_000, "USD", "ch_dup"
    )
    assert created and not created_again and again.id == first.id
    assert await entry_count(database, contract_id=c) == 1
    assert (await money(database, c)).funded == 10_000
    # The same key with other content is a bug upstream, refused loudly.
    with pytest.raises(LedgerKeyReused) as info:
        await tx(database, ledger.book_funding, c, 9_000, 1_000, "USD", "ch_dup")
    assert info.value.extensions["booked_amount"] == 11_000
    assert info.value.status == 422


async def test_release_moves_escrow_to_the_influencer_payable(database):
    c = await funded(database)
    m1 = mst()
    entry, created = await tx(database, ledger.book_release, c, m1, 4_000, "USD")
    assert created and entry.milestone_id == m1 and entry.idempotency_key == f"release:{m1}"
    assert lines_of(entry) == sorted(
        [(escrow_account(c), 4_000, "USD"), (payable_account(c), -4_000, "USD")]
    )
    m = await money(database, c)
    assert (m.released, m.in_escrow, m.payable) == (4_000, 6_000, 4_000)
    again, created = await tx(database, ledger.book_release, c, m1, 4_000, "USD")
    assert not created and again.id == entry.id
    assert (await money(database, c)).released == 4_000


async def test_release_refusals(database):
    c = await funded(database)
    m1 = mst()
    with pytest.raises(InsufficientEscrow) as info:
        await tx(database, ledger.book_release, c, m1, 10_001, "USD")
    assert info.value.status == 409
    assert info.value.extensions.items() >= {"requested": 10_001, "available": 10_000}.items()
    await tx(database, ledger.book_release, c, m1, 10_000, "USD")
    # The milestone is released; another amount (or another contract) is AlreadyReleased.
    with pytest.raises(AlreadyReleased) as info:
        await tx(database, ledger.book_release, c, m1, 5_000, "USD")
    assert info.value.extensions["booked_amount"] == 10_000
    other = await funded(database)
    with pytest.raises(AlreadyReleased):
        await tx(database, ledger.book_release, other, m1, 10_000, "USD")
    # Escrow is empty now.
    with pytest.raises(InsufficientEscrow):
        await tx(database, ledger.book_release, c, mst(), 1, "USD")
    # Nothing funded at all.
    with pytest.raises(InsufficientEscrow):
        await tx(database, ledger.book_release, ctr(), mst(), 1, "USD")
    # Money is held in USD; a release in EUR is a bug upstream.
    with pytest.raises(CurrencyMismatch):
        await tx(database, ledger.book_release, other, mst(), 1, "EUR")
    for bad in (0, -5, 1.5, True):
        with pytest.raises(InvalidEntry):
            await tx(database, ledger.book_release, other, mst(), bad, "USD")
    with pytest.raises(InvalidEntry):
        await tx(database, ledger.book_release, other, "not-a-milestone", 1, "USD")
    with pytest.raises(InvalidEntry):
        await tx(database, ledger.book_release, "ctr_nope", mst(), 1, "USD")
    assert await invariants(database) == []


async def test_release_beyond_funding_is_refused_even_when_escrow_holds_more(database):
    c = await funded(database, 1_000, 0)
    # A mis-kinded entry puts platform money into escrow without counting it as funding.
    await tx(
        database,
        ledger.post_entry,
        "fee",
        [(EQUITY, 500, "USD"), (escrow_account(c), -500, "USD")],
        "manual:mis-kinded",
        contract_id=c,
    )
    with pytest.raises(ReleaseExceedsFunding) as info:
        await tx(database, ledger.book_release, c, mst(), 1_200, "USD")
    assert info.value.extensions["funded"] == 1_000
    await tx(database, ledger.book_release, c, mst(), 1_000, "USD")


async def test_transfer_pays_a_released_milestone_once(database):
    c = await funded(database)
    m1 = mst()
    with pytest.raises(NotReleased):
        await tx(database, ledger.book_transfer, c, m1, 1_000, "USD", "tr_1")
    await tx(database, ledger.book_release, c, m1, 3_000, "USD")
    with pytest.raises(TransferExceedsRelease) as info:
        await tx(database, ledger.book_transfer, c, m1, 3_001, "USD", "tr_1")
    assert info.value.extensions["released"] == 3_000
    entry, created = await tx(database, ledger.book_transfer, c, m1, 3_000, "USD", "tr_1")
    assert created and entry.external_ref == "tr_1" and entry.idempotency_key == f"transfer:{m1}"
    assert lines_of(entry) == sorted(
        [(payable_account(c), 3_000, "USD"), (STRIPE_BALANCE, -3_000, "USD")]
    )
    again, created = await tx(database, ledger.book_transfer, c, m1, 3_000, "USD", "tr_1")
    assert not created and again.id == entry.id
    with pytest.raises(AlreadyTransferred):
        await tx(database, ledger.book_transfer, c, m1, 2_000, "USD", "tr_2")
    m = await money(database, c)
    assert (m.released, m.transferred, m.payable, m.in_escrow) == (3_000, 3_000, 0, 7_000)
    # Another contract's milestone cannot be paid from this one.
    other = await funded(database)
    with pytest.raises(AlreadyTransferred):
        await tx(database, ledger.book_transfer, other, m1, 3_000, "USD", "tr_1")
    m2 = mst()
    await tx(database, ledger.book_release, c, m2, 1_000, "USD")
    with pytest.raises(NotReleased):
        await tx(database, ledger.book_transfer, other, m2, 1_000, "USD", "tr_3")
    assert await balance(database, STRIPE_BALANCE, "USD") == 2 * 11_000 - 3_000
    assert await invariants(database) == []


async def test_transfer_reversal_makes_the_money_owed_again(database):
    c = await funded(database)
    m1 = mst()
    await tx(database, ledger.book_release, c, m1, 3_000, "USD")
    with pytest.raises(ReversalExceedsTransfer):
        await tx(database, ledger.book_transfer_reversal, c, m1, 1, "USD", "trr_0")
    await tx(database, ledger.book_transfer, c, m1, 3_000, "USD", "tr_1")
    entry, created = await tx(database, ledger.book_transfer_reversal, c, m1, 1_000, "USD", "trr_1")
    assert created and entry.kind == "transfer_reversal"
    assert lines_of(entry) == sorted(
        [(STRIPE_BALANCE, 1_000, "USD"), (payable_account(c), -1_000, "USD")]
    )
    _, created = await tx(database, ledger.book_transfer_reversal, c, m1, 1_000, "USD", "trr_1")
    assert not created
    with pytest.raises(ReversalExceedsTransfer) as info:
        await tx(database, ledger.book_transfer_reversal, c, m1, 2_001, "USD", "trr_2")
    assert info.value.extensions["reversed"] == 1_000
    await tx(database, ledger.book_transfer_reversal, c, m1, 2_000, "USD", "trr_2")
    m = await money(database, c)
    assert (m.released, m.transferred, m.payable) == (3_000, 0, 3_000)
    assert await invariants(database) == []


async def test_refund_returns_unreleased_escrow_only(database):
    c = await funded(database)
    await tx(database, ledger.book_release, c, mst(), 6_000, "USD")
    with pytest.raises(InsufficientEscrow) as info:
        await tx(database, ledger.book_refund, c, 4_001, "USD", "re_1")
    assert info.value.extensions["available"] == 4_000
    entry, created = await tx(database, ledger.book_refund, c, 4_000, "USD", "re_1", fee_amount=400)
    assert created and entry.external_ref == "re_1"
    assert lines_of(entry) == sorted(
        [(escrow_account(c), 4_000, "USD"), (FEES, 400, "USD"), (STRIPE_BALANCE, -4_400, "USD")]
    )
    _, created = await tx(database, ledger.book_refund, c, 4_000, "USD", "re_1", fee_amount=400)
    assert not created
    with pytest.raises(LedgerKeyReused):
        await tx(database, ledger.book_refund, c, 4_000, "USD", "re_1")
    with pytest.raises(RefundExceedsCharge):
        await tx(database, ledger.book_refund, c, 0, "USD", "re_2", fee_amount=601)
    await tx(database, ledger.book_refund, c, 0, "USD", "re_2", fee_amount=600)
    with pytest.raises(InvalidEntry):
        await tx(database, ledger.book_refund, c, 0, "USD", "re_3")
    m = await money(database, c)
    assert (m.refunded, m.fees, m.in_escrow, m.released, m.collected) == (4_000, 0, 0, 6_000, 6_000)
    assert await invariants(database) == []


async def test_chargeback_drains_escrow_first_then_is_a_loss(database):
    c = await funded(database)  # 10,000 + 1,000 fee
    m1 = mst()
    await tx(database, ledger.book_release, c, m1, 6_000, "USD")
    await tx(database, ledger.book_transfer, c, m1, 6_000, "USD", "tr_1")
    with pytest.raises(ChargebackExceedsCharge):
        await tx(database, ledger.book_chargeback, c, 11_001, "USD", "dp_1")
    entry, created = await tx(database, ledger.book_chargeback, c, 11_000, "USD", "dp_1")
    assert created and entry.kind == "chargeback"
    assert lines_of(entry) == sorted(
        [
            (escrow_account(c), 4_000, "USD"),
            (CHARGEBACK_LOSSES, 7_000, "USD"),
            (STRIPE_BALANCE, -11_000, "USD"),
        ]
    )
    m = await money(database, c)
    assert (m.in_escrow, m.charged_back, m.chargeback_loss, m.collected) == (0, 11_000, 7_000, 0)
    # Frozen: nothing left to release or refund.
    with pytest.raises(InsufficientEscrow):
        await tx(database, ledger.book_release, c, mst(), 1, "USD")
    with pytest.raises(InsufficientEscrow):
        await tx(database, ledger.book_refund, c, 1, "USD", "re_1")
    _, created = await tx(database, ledger.book_chargeback, c, 11_000, "USD", "dp_1")
    assert not created
    assert await balance(database, CHARGEBACK_LOSSES, "USD") == 7_000
    assert await invariants(database) == []

    # The dispute is won: the chargeback is undone line by line.
    with pytest.raises(ChargebackNotFound):
        await tx(database, ledger.book_chargeback_reversal, c, 11_000, "USD", "dp_unknown")
    with pytest.raises(LedgerKeyReused):
        await tx(database, ledger.book_chargeback_reversal, c, 10_000, "USD", "dp_1")
    reversal, created = await tx(
        database, ledger.book_chargeback_reversal, c, 11_000, "USD", "dp_1"
    )
    assert created and lines_of(reversal) == sorted(
        [
            (escrow_account(c), -4_000, "USD"),
            (CHARGEBACK_LOSSES, -7_000, "USD"),
            (STRIPE_BALANCE, 11_000, "USD"),
        ]
    )
    m = await money(database, c)
    assert (m.in_escrow, m.charged_back, m.chargeback_loss, m.collected) == (4_000, 0, 0, 11_000)
    assert await invariants(database) == []


async def test_zero_decimal_currency(database):
    """JPY has no minor unit: ¥150,000 is the integer 150000, never 15000000."""
    c = ctr()
    await tx(database, ledger.book_funding, c, 150_000, 15_000, "jpy", "ch_jpy")
    m1, m2 = mst(), mst()
    await tx(database, ledger.book_release, c, m1, 100_000, "JPY")
    await tx(database, ledger.book_transfer, c, m1, 100_000, "JPY", "tr_jpy")
    await tx(database, ledger.book_refund, c, 50_000, "JPY", "re_jpy")
    with pytest.raises(InsufficientEscrow):
        await tx(database, ledger.book_release, c, m2, 1, "JPY")
    m = await money(database, c)
    assert m == ContractMoney(
        contract_id=c,
        currency="JPY",
        funded=150_000,
        fees=15_000,
        released=100_000,
        transferred=100_000,
        refunded=50_000,
        in_escrow=0,
        payable=0,
        collected=115_000,
    )
    assert await balance(database, STRIPE_BALANCE, "JPY") == 165_000 - 100_000 - 50_000
    assert await balance(database, STRIPE_BALANCE, "USD") == 0  # currencies never mix
    assert await invariants(database) == []


async def test_post_entry_books_adjustments_and_guards_liabilities(database):
    # The platform puts its own money in (no contract: the unique key alone deduplicates).
    entry, created = await tx(
        database,
        ledger.post_entry,
        "adjustment",
        [(STRIPE_BALANCE, 500, "GBP"), (EQUITY, -500, "GBP")],
        "topup:1",
        memo="top-up",
    )
    assert created and entry.memo == "top-up" and entry.contract_id is None
    again, created = await tx(
        database,
        ledger.post_entry,
        "adjustment",
        [(EQUITY, -500, "GBP"), (STRIPE_BALANCE, 500, "GBP")],
        "topup:1",
    )
    assert not created and again.id == entry.id  # line order does not matter
    with pytest.raises(LedgerKeyReused):
        await tx(
            database,
            ledger.post_entry,
            "adjustment",
            [(STRIPE_BALANCE, 1, "GBP"), (EQUITY, -1, "GBP")],
            "topup:1",
        )
    with pytest.raises(InvalidEntry):
        await tx(
            database,
            ledger.post_entry,
            "bonus",
            [(STRIPE_BALANCE, 1, "GBP"), (EQUITY, -1, "GBP")],
            "k",
        )
    with pytest.raises(InvalidEntry):
        await tx(
            database,
            ledger.post_entry,
            "adjustment",
            [(STRIPE_BALANCE, 1, "GBP"), (EQUITY, -1, "GBP")],
            "",
        )

    c = await funded(database, 1_000, 0, "GBP")
    # Escrow may not go negative, whoever books.
    with pytest.raises(InsufficientEscrow):
        await tx(
            database,
            ledger.post_entry,
            "adjustment",
            [(escrow_account(c), 1_001, "GBP"), (EQUITY, -1_001, "GBP")],
            "wo:1",
            contract_id=c,
        )
    # Per-contract accounts only move in their contract's entries, in its currency.
    with pytest.raises(InvalidEntry):
        await tx(
            database,
            ledger.post_entry,
            "adjustment",
            [(escrow_account(c), 1, "GBP"), (EQUITY, -1, "GBP")],
            "wo:2",
        )
    with pytest.raises(InvalidEntry):
        await tx(
            database,
            ledger.post_entry,
            "adjustment",
            [(escrow_account(c), 1, "GBP"), (EQUITY, -1, "GBP")],
            "wo:3",
            contract_id=ctr(),
        )
    with pytest.raises(CurrencyMismatch):
        await tx(
            database,
            ledger.post_entry,
            "adjustment",
            [(escrow_account(c), 1, "EUR"), (EQUITY, -1, "EUR")],
            "wo:4",
            contract_id=c,
        )
    # A platform-covered top-up of escrow counts as funding.
    await tx(
        database,
        ledger.post_entry,
        "adjustment",
        [(CHARGEBACK_LOSSES, 250, "GBP"), (escrow_account(c), -250, "GBP")],
        "cover:1",
        contract_id=c,
    )
    m = await money(database, c)
    assert (m.funded, m.in_escrow, m.chargeback_loss) == (1_250, 1_250, 250)
    assert await invariants(database) == []


async def test_check_invariants_reports_every_violation(database):
    c = await funded(database)
    m1 = mst()
    await tx(database, ledger.book_release, c, m1, 1_000, "USD")
    # A second "release" of the same milestone under another key: only post_entry can do it.
    await tx(
        database,
        ledger.post_entry,
        "release",
        [(escrow_account(c), 500, "USD"), (payable_account(c), -500, "USD")],
        "manual:again",
        contract_id=c,
        milestone_id=m1,
    )
    # Rows written behind the service's back: an unbalanced entry and an overdrawn escrow.
    async with database.sessionmaker() as session, session.begin():
        escrow_id = await session.scalar(
            select(LedgerAccount.id).where(LedgerAccount.code == escrow_account(c))
        )
        stripe_id = await session.scalar(
            select(LedgerAccount.id).where(LedgerAccount.code == STRIPE_BALANCE)
        )
        bad = new_id("journal_entry")
        await session.execute(
            insert(JournalEntry).values(
                id=bad,
                kind="adjustment",
                contract_id=c,
                idempotency_key="bad:1",
                memo="",
                created_at=ledger.utcnow(),
            )
        )
        await session.execute(
            insert(JournalLine),
            [
                {
                    "entry_id": bad,
                    "line_no": 0,
                    "account_id": escrow_id,
                    "amount": 20_000,
                    "currency": "USD",
                },
                {
                    "entry_id": bad,
                    "line_no": 1,
                    "account_id": stripe_id,
                    "amount": -19_000,
                    "currency": "USD",
                },
            ],
        )
        # An entry without lines, and lines in EUR on the USD Stripe balance.
        empty, foreign = new_id("journal_entry"), new_id("journal_entry")
        for entry_id, key in ((empty, "bad:2"), (foreign, "bad:3")):
            await session.execute(
                insert(JournalEntry).values(
                    id=entry_id,
                    kind="adjustment",
                    contract_id=c if entry_id == empty else None,
                    idempotency_key=key,
                    memo="",
                    created_at=ledger.utcnow(),
                )
            )
        await session.execute(
            insert(JournalLine),
            [
                {
                    "entry_id": foreign,
                    "line_no": n,
                    "account_id": stripe_id,
                    "amount": a,
                    "currency": "EUR",
                }
                for n, a in ((0, 5), (1, -5))
            ],
        )
    problems = await invariants(database)
    text = "\n".join(problems)
    assert f"entry {bad} does not sum to zero in USD: 1000" in text
    assert f"escrow of {c} is negative" in text
    assert f"milestone {m1} has 2 release entries" in text
    # The adjustment took 20,000 out of escrow: less was funded than was released.
    assert f"{c} released 1500 > funded -10000 - refunded 0" in text
    assert f"1 adjustment entries of {c} have no lines" in text
    assert f"entry {foreign} has 2 line(s) in EUR that are zero or in another currency" in text
    assert len(problems) == 6, problems


async def test_audit_agrees_with_the_single_account_queries(database):
    usd, jpy = await funded(database), await funded(database, 50_000, 5_000, "JPY")
    m1 = mst()
    await tx(database, ledger.book_release, usd, m1, 4_000, "USD")
    await tx(database, ledger.book_transfer, usd, m1, 4_000, "USD", "tr_a")
    await tx(database, ledger.book_chargeback, jpy, 55_000, "JPY", "dp_a")
    async with database.sessionmaker() as session:
        report = await ledger.audit(session)
        assert report.problems == [] == await ledger.check_invariants(session)
        assert report.platform == await ledger.platform_balances(session)
        assert report.platform == {
            (STRIPE_BALANCE, "USD"): 7_000,
            (FEES, "USD"): 1_000,
            (STRIPE_BALANCE, "JPY"): 0,
            (FEES, "JPY"): 5_000,
            (CHARGEBACK_LOSSES, "JPY"): 5_000,
        }
        for code, currency in report.platform:
            assert report.platform[(code, currency)] == await ledger.account_balance(
                session, code, currency
            )
        for contract_id in (usd, jpy):
            assert report.contracts[contract_id] == await ledger.contract_balances(
                session, contract_id
            )
        unknown = ctr()
        assert await ledger.contract_balances(session, unknown) == ContractMoney(unknown, None)


# --- concurrency ------------------------------------------------------------------------------


async def test_concurrent_releases_of_one_milestone_book_one_entry(database):
    c = await funded(database)
    m1 = mst()
    results = await asyncio.gather(
        *(tx(database, ledger.book_release, c, m1, 2_500, "USD") for _ in range(20)),
        return_exceptions=True,
    )
    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors == []
    assert sum(created for _, created in results) == 1
    assert len({entry.id for entry, _ in results}) == 1
    assert await entry_count(database, milestone_id=m1) == 1
    m = await money(database, c)
    assert (m.released, m.in_escrow) == (2_500, 7_500)
    assert await invariants(database) == []


async def test_concurrent_refunds_never_exceed_escrow(database):
    c = await funded(database, 10_000, 0)
    results = await asyncio.gather(
        *(tx(database, ledger.book_refund, c, 3_000, "USD", f"re_{i}") for i in range(10)),
        return_exceptions=True,
    )
    booked = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(booked) == 3 and all(isinstance(r, InsufficientEscrow) for r in refused), refused
    m = await money(database, c)
    assert (m.refunded, m.in_escrow) == (9_000, 1_000)
    assert await invariants(database) == []


async def test_concurrent_mixed_releases_and_refunds_stay_within_escrow(database):
    c = await funded(database, 10_000, 0)
    calls = [tx(database, ledger.book_release, c, mst(), 1_500, "USD") for _ in range(6)]
    calls += [tx(database, ledger.book_refund, c, 1_500, "USD", f"re_{i}") for i in range(6)]
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(r, (tuple, InsufficientEscrow)) for r in results), results
    assert sum(isinstance(r, tuple) for r in results) == 6
    m = await money(database, c)
    assert m.released + m.refunded == 9_000 and m.in_escrow == 1_000
    assert await invariants(database) == []


async def test_concurrent_posts_of_one_key_without_contract_book_one_entry(database):
    lines = [(STRIPE_BALANCE, 700, "USD"), (EQUITY, -700, "USD")]
    results = await asyncio.gather(
        *(
            tx(database, ledger.post_entry, "adjustment", lines, "stripe:evt_same")
            for _ in range(20)
        ),
        return_exceptions=True,
    )
    assert [r for r in results if isinstance(r, BaseException)] == []
    assert sum(created for _, created in results) == 1
    assert await entry_count(database, idempotency_key="stripe:evt_same") == 1
    assert await balance(database, STRIPE_BALANCE, "USD") == 700


async def test_concurrent_first_fundings_of_one_contract(database):
    c = ctr()
    results = await asyncio.gather(
        *(tx(database, ledger.book_funding, c, 1_000, 100, "USD", f"ch_{i}") for i in range(10)),
        return_exceptions=True,
    )
    assert [r for r in results if isinstance(r, BaseException)] == []
    m = await money(database, c)
    assert (m.funded, m.fees, m.in_escrow) == (10_000, 1_000, 10_000)


# --- the state machine ------------------------------------------------------------------------

# The default suite runs 1,000 steps on each database; the deep run (`make test-deep`, once per
# CI run) 10,000 on SQLite. `RAPPORT_LEDGER_STEPS` sets the number.
TOTAL_STEPS = int(os.environ.get("RAPPORT_LEDGER_STEPS", "1000"))
STEPS_PER_EXAMPLE = 50
CURRENCIES = ("USD", "JPY", "EUR")
# Amounts in each currency's minor unit; the yen's are larger numbers for similar money.
SCALE = {"USD": 1, "EUR": 1, "JPY": 100}
LEDGER_TABLES = (JournalLine, JournalEntry, LedgerAccount, LedgerContract)


@dataclass
class MilestoneModel:
    released: int
    transferred: int = 0
    reversed: int = 0


@dataclass
class ContractModel:
    id: str
    currency: str
    money: ContractMoney
    milestones: dict[str, MilestoneModel] = field(default_factory=dict)
    # dispute id -> (amount, from_escrow, reversed)
    disputes: dict[str, tuple[int, int, bool]] = field(default_factory=dict)
    counter: int = 0

    def next(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}_{self.id[-8:]}_{self.counter}"


Booked = tuple[Callable[..., Awaitable[Any]], tuple[Any, ...], dict[str, Any], str]


class Runner:
    """An event loop and an engine of its own: hypothesis drives the machine synchronously."""

    def __init__(self, database_url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.database = create_database(make_settings(database_url))
        self.steps = 0
        self.examples = 0

    def run(self, awaitable: Awaitable[Any]) -> Any:
        return self.loop.run_until_complete(awaitable)

    def close(self) -> None:
        self.run(self.database.dispose())
        self.loop.close()

    async def clear(self) -> None:
        async with self.database.sessionmaker() as session, session.begin():
            for table in LEDGER_TABLES:
                await session.execute(delete(table))


class LedgerMachine(RuleBasedStateMachine):
    runner: Runner  # set by the test

    def __init__(self) -> None:
        super().__init__()
        self.runner.run(self.runner.clear())
        self.runner.examples += 1
        self.contracts: list[ContractModel] = []
        self.stripe: dict[str, int] = dict.fromkeys(CURRENCIES, 0)
        self.fees: dict[str, int] = dict.fromkeys(CURRENCIES, 0)
        self.losses: dict[str, int] = dict.fromkeys(CURRENCIES, 0)
        # Successful bookings (function, arguments, entry id), to re-post as duplicate events.
        self.booked: list[Booked] = []
        self.touched: str | None = None  # the contract the last step booked on

    # -- plumbing --

    def call(
        self,
        expected: type[Problem] | None,
        fn: Callable[..., Awaitable[Any]],
        *args: Any,
        **kw: Any,
    ) -> bool:
        """Books through the service in its own transaction; the model predicted the outcome."""
        self.runner.steps += 1
        self.touched = args[0]
        try:
            entry, created = self.runner.run(tx(self.runner.database, fn, *args, **kw))
        except Problem as problem:
            assert expected is not None and isinstance(problem, expected), (
                f"{fn.__name__}{args} raised {problem!r}, the model expected {expected}"
            )
            return False
        assert expected is None, f"{fn.__name__}{args} booked, the model expected {expected}"
        assert created, f"{fn.__name__}{args} was a new event but was not booked"
        self.booked.append((fn, args, kw, entry.id))
        return True

    def update(self, contract: ContractModel, **changes: int) -> None:
        m = contract.money
        contract.money = replace(m, **{k: getattr(m, k) + v for k, v in changes.items()})

    # -- rules --

    @initialize(currencies=st.lists(st.sampled_from(CURRENCIES), min_size=2, max_size=3))
    def open_contracts(self, currencies: list[str]) -> None:
        for currency in currencies:
            contract_id = new_id("contract")
            self.contracts.append(
                ContractModel(contract_id, currency, ContractMoney(contract_id, None))
            )

    @rule(data=st.data(), amount=st.integers(1, 100_000), fee=st.integers(0, 10_000))
    def fund(self, data: st.DataObject, amount: int, fee: int) -> None:
        c = data.draw(st.sampled_from(self.contracts))
        amount, fee = amount * SCALE[c.currency], fee * SCALE[c.currency]
        self.call(None, ledger.book_funding, c.id, amount, fee, c.currency, c.next("ch"))
        if c.money.currency is None:
            c.money = replace(c.money, currency=c.currency)
        self.update(c, funded=amount, fees=fee, in_escrow=amount, collected=amount + fee)
        self.stripe[c.currency] += amount + fee
        self.fees[c.currency] += fee

    @rule(data=st.data(), amount=st.integers(1, 60_000))
    def release(self, data: st.DataObject, amount: int) -> None:
        c = data.draw(st.sampled_from(self.contracts))
        amount *= SCALE[c.currency]
        milestone_id = new_id("milestone")
        ok = amount <= c.money.in_escrow
        expected = None if ok else InsufficientEscrow
        self.call(expected, ledger.book_release, c.id, milestone_id, amount, c.currency)
        if ok:
            c.milestones[milestone_id] = MilestoneModel(released=amount)
            self.update(c, released=amount, in_escrow=-amount, payable=amount)

    def _milestones(
        self, test: Callable[[MilestoneModel], bool]
    ) -> list[tuple[ContractModel, str]]:
        return [(c, mid) for c in self.contracts for mid, m in c.milestones.items() if test(m)]

    @precondition(lambda self: self._milestones(lambda m: m.transferred == 0))
    @rule(data=st.data(), short=st.integers(0, 3))
    def transfer(self, data: st.DataObject, short: int) -> None:
        c, mid = data.draw(st.sampled_from(self._milestones(lambda m: m.transferred == 0)))
        m = c.milestones[mid]
        amount = max(1, m.released - short)  # usually the whole milestone, sometimes less
        self.call(None, ledger.book_transfer, c.id, mid, amount, c.currency, c.next("tr"))
        m.transferred = amount
        self.update(c, transferred=amount, payable=-amount)
        self.stripe[c.currency] -= amount

    @rule(data=st.data(), extra=st.integers(1, 1_000))
    def transfer_failure(self, data: st.DataObject, extra: int) -> None:
        """A transfer the ledger must refuse: more than released, or a milestone not released
        (the Stripe call would not have been made); nothing is booked."""
        candidates = self._milestones(lambda m: m.transferred == 0)
        if candidates and data.draw(st.booleans()):
            c, mid = data.draw(st.sampled_from(candidates))
            amount, expected = c.milestones[mid].released + extra, TransferExceedsRelease
        else:
            c, mid = data.draw(st.sampled_from(self.contracts)), new_id("milestone")
            amount, expected = extra, NotReleased
        self.call(expected, ledger.book_transfer, c.id, mid, amount, c.currency, c.next("tr"))

    @precondition(lambda self: self._milestones(lambda m: m.transferred > m.reversed))
    @rule(data=st.data(), over=st.booleans())
    def reverse_transfer(self, data: st.DataObject, over: bool) -> None:
        c, mid = data.draw(st.sampled_from(self._milestones(lambda m: m.transferred > m.reversed)))
        m = c.milestones[mid]
        outstanding = m.transferred - m.reversed
        if over:
            amount = outstanding + 1
            self.call(
                ReversalExceedsTransfer,
                ledger.book_transfer_reversal,
                c.id,
                mid,
                amount,
                c.currency,
                c.next("trr"),
            )
            return
        amount = data.draw(st.integers(1, outstanding))
        self.call(None, ledger.book_transfer_reversal, c.id, mid, amount, c.currency, c.next("trr"))
        m.reversed += amount
        self.update(c, transferred=-amount, payable=amount)
        self.stripe[c.currency] += amount

    @rule(data=st.data(), amount=st.integers(0, 60_000), fee=st.integers(0, 3_000))
    def refund(self, data: st.DataObject, amount: int, fee: int) -> None:
        c = data.draw(st.sampled_from(self.contracts))
        amount, fee = amount * SCALE[c.currency], fee * SCALE[c.currency]
        if amount + fee == 0:
            amount = 1
        m = c.money
        if amount > m.in_escrow:
            expected: type[Problem] | None = InsufficientEscrow
        elif fee > m.fees or amount + fee > m.collected:
            expected = RefundExceedsCharge
        else:
            expected = None
        self.call(
            expected, ledger.book_refund, c.id, amount, c.currency, c.next("re"), fee_amount=fee
        )
        if expected is None:
            self.update(c, refunded=amount, in_escrow=-amount, fees=-fee, collected=-(amount + fee))
            self.stripe[c.currency] -= amount + fee
            self.fees[c.currency] -= fee

    @rule(data=st.data(), amount=st.integers(1, 150_000))
    def chargeback(self, data: st.DataObject, amount: int) -> None:
        c = data.draw(st.sampled_from(self.contracts))
        amount *= SCALE[c.currency]
        if data.draw(st.booleans()) and c.money.collected > 0:
            amount = c.money.collected  # the whole remaining charge is disputed
        dispute = c.next("dp")
        if amount > c.money.collected:
            self.call(
                ChargebackExceedsCharge, ledger.book_chargeback, c.id, amount, c.currency, dispute
            )
            return
        self.call(None, ledger.book_chargeback, c.id, amount, c.currency, dispute)
        from_escrow = min(amount, c.money.in_escrow)
        c.disputes[dispute] = (amount, from_escrow, False)
        self.update(
            c,
            in_escrow=-from_escrow,
            charged_back=amount,
            chargeback_loss=amount - from_escrow,
            collected=-amount,
        )
        self.stripe[c.currency] -= amount
        self.losses[c.currency] += amount - from_escrow

    @precondition(lambda self: any(not r for c in self.contracts for *_, r in c.disputes.values()))
    @rule(data=st.data())
    def win_dispute(self, data: st.DataObject) -> None:
        open_ = [(c, d) for c in self.contracts for d, (*_, r) in c.disputes.items() if not r]
        c, dispute = data.draw(st.sampled_from(open_))
        amount, from_escrow, _ = c.disputes[dispute]
        self.call(None, ledger.book_chargeback_reversal, c.id, amount, c.currency, dispute)
        c.disputes[dispute] = (amount, from_escrow, True)
        self.update(
            c,
            in_escrow=from_escrow,
            charged_back=-amount,
            chargeback_loss=-(amount - from_escrow),
            collected=amount,
        )
        self.stripe[c.currency] += amount
        self.losses[c.currency] -= amount - from_escrow

    @precondition(lambda self: self.booked)
    @rule(data=st.data())
    def duplicate_event(self, data: st.DataObject) -> None:
        """A webhook delivered twice, a job retried: the same event books nothing new."""
        fn, args, kw, entry_id = data.draw(st.sampled_from(self.booked))
        self.runner.steps += 1
        self.touched = args[0]
        entry, created = self.runner.run(tx(self.runner.database, fn, *args, **kw))
        assert not created and entry.id == entry_id, f"{fn.__name__}{args} booked twice"

    @precondition(lambda self: self._milestones(lambda m: True))
    @rule(data=st.data(), delta=st.integers(1, 500))
    def release_again(self, data: st.DataObject, delta: int) -> None:
        c, mid = data.draw(st.sampled_from(self._milestones(lambda m: True)))
        amount = c.milestones[mid].released + delta
        self.call(AlreadyReleased, ledger.book_release, c.id, mid, amount, c.currency)

    # -- after every step --

    @invariant()
    def ledger_matches_the_model(self) -> None:
        """`audit` (every invariant, every contract's money, the platform accounts) and
        `contract_balances` of the contract the step touched agree with the model."""

        async def observe() -> tuple[ledger.LedgerAudit, ContractMoney | None]:
            async with self.runner.database.sessionmaker() as session:
                report = await ledger.audit(session)
                touched = self.touched and await ledger.contract_balances(session, self.touched)
                return report, touched or None

        report, touched = self.runner.run(observe())
        assert report.problems == []
        for c in self.contracts:
            assert report.contracts.get(c.id, ContractMoney(c.id, None)) == c.money
            if touched is not None and touched.contract_id == c.id:
                assert touched == c.money
        expected = {
            (code, cur): amount
            for code, by_currency in (
                (STRIPE_BALANCE, self.stripe),
                (FEES, self.fees),
                (CHARGEBACK_LOSSES, self.losses),
            )
            for cur, amount in by_currency.items()
        }
        # Accounts never touched are absent; zero balances compare equal to absent ones.
        assert {k: v for k, v in report.platform.items() if v} == {
            k: v for k, v in expected.items() if v
        }


def test_ledger_state_machine(database_url, record_property, capsys):
    runner = Runner(database_url)
    LedgerMachine.runner = runner
    started, cpu_started = time.perf_counter(), time.process_time()
    try:
        # Hypothesis ends some examples before `stateful_step_count` (and counts the
        # initialisation as a step), so it runs in rounds until the steps reach the target.
        for _ in range(5):
            remaining = TOTAL_STEPS - runner.steps
            if remaining <= 0:
                break
            run_state_machine_as_test(
                LedgerMachine,
                settings=settings(
                    max_examples=math.ceil(remaining / (STEPS_PER_EXAMPLE - 1)),
                    stateful_step_count=STEPS_PER_EXAMPLE,
                    deadline=None,
                    database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
                ),
            )
    finally:
        runner.run(runner.clear())
        runner.close()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    record_property("ledger_steps", runner.steps)
    with capsys.disabled():
        print(
            f"\nledger state machine on {BACKEND}: {runner.steps} steps in {runner.examples} "
            f"examples, {elapsed:.1f} s wall, {cpu:.1f} s CPU "
            f"({runner.steps / elapsed:.0f} steps/s)"
        )
    assert runner.steps >= TOTAL_STEPS
