"""Contracts, deliverables, drafts, milestones and disputes: doing what was agreed."""
