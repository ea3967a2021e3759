"""What is offered and asked for: influencer listings, brand briefs, rates, deliverable types."""
