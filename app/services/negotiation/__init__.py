"""Invitations, bids, offers and their terms: how a brand and an influencer agree."""
