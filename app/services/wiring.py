"""Everything that happens "meanwhile": the one list of Rapport's cross-domain reactions.

A request changes one thing and commits; the rest follows from the lists below — a job the
worker runs later, a Stripe event processed when it arrives, a hook another domain runs in the
same transaction, a machine a timer or a cascade fires. Nothing registers itself on import:
`wire()` installs these lists into the registries the lower layers declare (and call), and the
app (`create_app`) and the worker (`rapport worker`) both call it. tests/test_wiring.py fails
when a topic that can be enqueued, or a Stripe event type Rapport subscribes to, has no handler
here, or when a declared state machine is missing.

This module is the top of the service layers: it may import every domain; none imports it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from app.services import event_objects
from app.services.catalogue import briefs
from app.services.catalogue.briefs import BriefHook
from app.services.delivery import contracts
from app.services.delivery.contracts import CONTRACTS
from app.services.delivery.deliverables import DELIVERABLES, DRAFTS
from app.services.delivery.disputes import DISPUTES
from app.services.delivery.extensions import EXTENSIONS
from app.services.delivery.milestones import MILESTONES
from app.services.matching import service as matching_service
from app.services.matching.service import RelationshipScores
from app.services.money import funding, refunds, releases, stripe_disputes, stripe_events
from app.services.money.stripe_events import AccountUpdatedHook, EventHandler
from app.services.negotiation import bids, offers
from app.services.negotiation.bids import BIDS, ContactHook
from app.services.negotiation.offers import OFFERS, AcceptanceHook
from app.services.relationships import performance, programmes, records
from app.services.relationships.programmes import PROGRAMMES
from app.services.relationships.records import RELATIONSHIPS
from app.services.workflow import effects, events, jobs, state_machine, webhooks
from app.services.workflow.jobs import JobHandler
from app.services.workflow.outbox import JOBS
from app.services.workflow.state_machine import StateMachine, install_machines

# --- jobs: topic → handler (the worker runs them, at least once, with the job's idempotency key)

JOB_HANDLERS: Mapping[str, JobHandler] = {
    # A Stripe webhook event stored in the inbox is processed once, by its type (below).
    jobs.STRIPE_EVENT_TOPIC: stripe_events.process_stripe_event_job,
    # A met milestone's money moves from escrow to the influencer's balance in the ledger.
    jobs.RELEASE_TOPIC: releases.release_milestone,
    # A released milestone is sent to the influencer's Stripe account (a transfer).
    jobs.TRANSFER_TOPIC: releases.transfer_milestone,
    # A transfer that arrived is paid out to the influencer's bank (per-transfer payout mode).
    jobs.PAYOUT_TOPIC: releases.payout_transfer,
    # A cancelled or refused milestone's money goes back to the brand.
    jobs.REFUND_MILESTONE_TOPIC: refunds.refund_milestone,
    # A contract ended early, or a dispute went the brand's way: the unreleased money goes back.
    jobs.REFUND_CONTRACT_TOPIC: refunds.refund_contract,
    # A contract that expired or was cancelled before its funding arrived: cancel the payment.
    jobs.CANCEL_FUNDING_TOPIC: funding.cancel_funding,
    # (issue 14, webhooks) One attempt of an outbound webhook delivery; the next is scheduled.
    jobs.WEBHOOK_DELIVERY_TOPIC: webhooks.deliver_job,
    # (issue 15) An ambassador programme's next period starts: its contract, once.
    jobs.PROGRAMME_RENEW_TOPIC: programmes.renew_job,
    # … and the brand's saved card is charged for it (the funding then books as any other).
    jobs.FUND_RENEWAL_TOPIC: funding.fund_renewal,
}

# --- Stripe events: type → handler (stripe_events.SUBSCRIBED_EVENT_TYPES, all of them) ---------

STRIPE_EVENT_HANDLERS: Mapping[str, EventHandler] = {
    # An influencer's Stripe account changed: payouts enabled or disabled, requirements due.
    "account.updated": stripe_events.account_updated,
    # The brand's payment arrived: the contract is funded (escrow) and becomes active.
    "payment_intent.succeeded": funding.payment_succeeded,
    # The brand's payment failed: the contract still awaits funding, with the reason.
    "payment_intent.payment_failed": funding.payment_failed,
    # A refund of the brand's payment (Rapport's own, or one made in Stripe's dashboard).
    "charge.refunded": refunds.charge_refunded,
    # A chargeback on the brand's payment: the contract's money freezes, then follows the outcome.
    "charge.dispute.created": stripe_disputes.apply_dispute_event,
    "charge.dispute.updated": stripe_disputes.apply_dispute_event,
    "charge.dispute.closed": stripe_disputes.apply_dispute_event,
    "charge.dispute.funds_withdrawn": stripe_disputes.apply_dispute_event,
    "charge.dispute.funds_reinstated": stripe_disputes.apply_dispute_event,
    # Transfers to influencers: confirmed, changed, or reversed (the reversal is booked).
    "transfer.created": releases.transfer_created,
    "transfer.updated": releases.transfer_updated,
    "transfer.reversed": releases.transfer_reversed,
    # Payouts to influencers' banks: paid, failed (the bank returned the money), and the
    # automatic payouts Stripe makes on its schedule (recorded from their creation).
    "payout.paid": releases.payout_paid,
    "payout.failed": releases.payout_failed,
    "payout.created": releases.payout_changed,
    "payout.updated": releases.payout_changed,
    "payout.canceled": releases.payout_changed,
}

# --- hooks: a lower domain's event, a higher domain's reaction, in the same transaction --------

# After `account.updated` was applied: transfers that waited for the influencer's payouts to be
# enabled are enqueued.
ACCOUNT_UPDATED_HOOKS: Sequence[AccountUpdatedHook] = (releases.enqueue_waiting_transfers,)

# After every change of a brief: its bids expire when it leaves `open`, and their deadline
# timers move with the brief's deadline.
# (issue 14) … and its public event (`brief.open`, `brief.updated`, …) is written.
BRIEF_CHANGE_HOOKS: Sequence[BriefHook] = (bids.sync_with_brief, event_objects.brief_changed)

# --- public events (issue 14, app/services/workflow/events.py) ----------------------------------

# After every fired transition: its public event (and the webhook deliveries it causes).
TRANSITION_HOOKS: Sequence[state_machine.TransitionHook] = (events.on_transition,)

# After an offer is accepted (lifecycle): delivery makes the contract — its deliverables,
# milestones and funding timer — in the acceptance's transaction; (issue 15) then, when the
# terms recur, the ambassador programme whose period 1 it is (this order).
ACCEPTANCE_HOOKS: Sequence[AcceptanceHook] = (
    contracts.create_contract,
    programmes.start_programme,
)

# --- relationships (issue 15): reactions of the domain above money ---------------------------

# First contact of a brand and a creator (an invitation, a bid) opens their relationship record.
CONTACT_HOOKS: Sequence[ContactHook] = (records.contact_hook,)

# The matching's relationship component: the creator's history with this brand and with all
# brands (the figures the creator made public).
RELATIONSHIP_SCORES: Sequence[RelationshipScores] = (performance.relationship_scores,)

# --- state machines: timers and cascades find them by kind -------------------------------------

MACHINES: Sequence[StateMachine[Any]] = (
    BIDS,  # an influencer's bid on a brief
    OFFERS,  # versioned terms between a brand and an influencer
    CONTRACTS,  # accepted terms, from funding to completion
    DELIVERABLES,  # each piece of content a contract asks for
    DRAFTS,  # a deliverable's drafts and the brand's review
    MILESTONES,  # a contract's payments: releasable, released, refunded
    EXTENSIONS,  # a deadline extension asked for and answered
    DISPUTES,  # a disagreement an operator decides
    RELATIONSHIPS,  # a brand's working relationship with a creator
    PROGRAMMES,  # an ambassador programme: a contract renewed every period until notice
    JOBS,  # an outbox job (an operator sends a dead one back)
)


def wire() -> None:
    """Install every list above into its registry. Calling it again rebuilds the same
    registries (the app and the worker may both call it in one process, as tests do)."""
    jobs.JOB_HANDLERS.install(JOB_HANDLERS)
    stripe_events.EVENT_HANDLERS.clear()
    stripe_events.EVENT_HANDLERS.update(STRIPE_EVENT_HANDLERS)
    stripe_events.ACCOUNT_UPDATED_HOOKS[:] = ACCOUNT_UPDATED_HOOKS
    briefs.CHANGE_HOOKS[:] = BRIEF_CHANGE_HOOKS
    install_machines(MACHINES)
    # (issue 14) How each kind looks in an event, and the event types beyond the machines'.
    events.CATALOGUE.install(event_objects.OBJECT_VIEWS, event_objects.EXTRA_EVENT_TYPES)
    state_machine.TRANSITION_HOOKS[:] = TRANSITION_HOOKS
    # lifecycle: every cascade (effects.cascade) must name a machine and an action it may fire.
    problems = effects.check_cascades()
    if problems:
        raise RuntimeError("state-machine cascades that cannot fire: " + "; ".join(problems))
    offers.ACCEPTANCE_HOOKS[:] = ACCEPTANCE_HOOKS
    # (issue 15) relationships: records on first contact, the matching's relationship figures.
    bids.CONTACT_HOOKS[:] = CONTACT_HOOKS
    matching_service.RELATIONSHIP_SCORES[:] = RELATIONSHIP_SCORES
