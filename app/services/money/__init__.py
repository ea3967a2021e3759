"""Escrow and payouts: the ledger, funding, releases, refunds, Stripe events and reconciliation."""
