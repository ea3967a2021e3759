"""Automatic payouts and everything else the sandbox's clock makes happen.

Stripe pays a connected account out on its payout schedule (`settings.payouts.schedule`,
default `daily`): once a day, each currency's *available* balance becomes a payout
(`automatic: true`, `payout.created` on the account), which is `paid` at its arrival date
(`payout.paid`). Payouts made with `POST /v1/payouts` are paid at their arrival date too,
unless the control endpoint paid or failed them first. Funds still pending (an availability
delay) wait for a later day, as at Stripe. The platform's own balance is never paid out: a
marketplace holding its creators' money keeps its own payouts manual.

The sandbox's day starts at 00:00 UTC of its clock; `weekly` runs on `weekly_anchor`, `monthly`
on `monthly_anchor`; `manual` never. Everything is driven by the sandbox clock: a ticker thread
looks once a second as wall time passes, and `advance(seconds)` walks the clock forward from one
due moment to the next, so payouts are created and paid at the times they would have been.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Any

from .state import PLATFORM_ACCOUNT_ID, Ctx, SandboxState, StripeApiError

log = logging.getLogger(__name__)

DAY = 86400
_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def next_midnight(now: int) -> int:
    return (now // DAY + 1) * DAY


class PayoutSchedule:
    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.next_run: int | None = None  # the next 00:00 UTC at which payouts are made

    # --- persistence / reset ------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        return {"next_run": self.next_run}

    def restore(self, data: dict[str, Any]) -> None:
        self.next_run = data.get("next_run")

    def rebase(self) -> None:
        """The clock jumped (set, reset): the schedule starts from the new present, no catch-up."""
        with self.state._lock:
            self.next_run = next_midnight(self.state.clock.now())

    # --- what is due --------------------------------------------------------------------------

    def _pending_payouts(self) -> list[dict[str, Any]]:
        objects = self.state._objects
        return [
            objects[i]
            for i in self.state._by_type.get("payout", [])
            if objects[i]["status"] in ("pending", "in_transit")
        ]

    def next_due(self) -> int | None:
        with self.state._lock:
            if self.next_run is None:
                self.next_run = next_midnight(self.state.clock.now())
            arrivals = [p["arrival_date"] for p in self._pending_payouts()]
            return min([self.next_run, *arrivals])

    def run_due(self) -> bool:
        """Do what is due at the clock's present; True when anything happened."""
        state = self.state
        did = False
        with state._lock:
            now = state.clock.now()
            if self.next_run is None:
                self.next_run = next_midnight(now)
            while self.next_run <= now:
                did |= self._payout_run(self.next_run)
                self.next_run += DAY
            for payout in self._pending_payouts():
                if payout["arrival_date"] <= now:
                    state.settle_payout(payout["id"], paid=True)
                    did = True
        return did

    def _payout_run(self, day_start: int) -> bool:
        state = self.state
        day = datetime.fromtimestamp(day_start, UTC)
        made = False
        accounts = [i for i in state._by_type.get("account", []) if i != PLATFORM_ACCOUNT_ID]
        for account_id in accounts:
            acct = state._objects[account_id]
            schedule = ((acct.get("settings") or {}).get("payouts") or {}).get("schedule") or {}
            interval = schedule.get("interval", "daily")
            if interval == "manual" or not acct.get("payouts_enabled"):
                continue
            if (
                interval == "weekly"
                and schedule.get("weekly_anchor", "monday") != _WEEKDAYS[day.weekday()]
            ):
                continue
            if interval == "monthly" and schedule.get("monthly_anchor", 1) != day.day:
                continue
            balance = state.balance(Ctx(account=account_id))
            for entry in balance["available"]:
                if entry["amount"] <= 0:
                    continue
                try:
                    state.create_payout(
                        Ctx(account=account_id),
                        {
                            "amount": entry["amount"],
                            "currency": entry["currency"],
                            "automatic": True,
                        },
                    )
                    made = True
                except StripeApiError as exc:  # e.g. no bank account for that currency
                    log.warning(
                        "no automatic payout for %s in %s: %s",
                        account_id,
                        entry["currency"],
                        exc.error.get("message"),
                    )
        return made

    # --- moving the clock ---------------------------------------------------------------------

    def advance(self, seconds: float) -> int:
        """Move the clock forward, stopping at every moment something falls due on the way, so
        each payout is created and paid at its own time. Answers the new present."""
        clock = self.state.clock
        with self.state._lock:
            target = clock.time() + seconds
            previous = None
            while True:
                due = self.next_due()
                # (`due == previous`: something due could not be done; never loop on it.)
                if due is None or due > target or due == previous:
                    break
                clock.set(max(due, clock.time()))
                self.run_due()
                previous = due
            clock.set(target)
            self.run_due()
            return clock.now()


class Ticker:
    """Runs what falls due as wall time passes (once a second), and reports changes."""

    def __init__(self, schedule: PayoutSchedule, on_change: Any, interval_s: float = 1.0) -> None:
        self.schedule = schedule
        self.on_change = on_change
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name="stripe-sandbox-clock", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                if self.schedule.run_due():
                    self.on_change()
            except Exception:  # a bug here must not stop the clock
                log.exception("the sandbox's scheduled work failed")
