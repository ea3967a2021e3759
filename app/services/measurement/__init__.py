"""Measurement (issue 15 items 6-8, docs/reports.md): what a campaign achieved, counted by
Rapport where it can be and reported by the parties where it cannot, with every figure's source.

- `links`: tracked links (`GET /r/{code}`), their clicks, unique visitors, referrers and bots;
- `conversions`: promo codes, the brands' conversion secrets, signed orders and refunds;
- `facts` and `arithmetic`: a contract's figures gathered from the database, and the report's
  sums and ratios over them (integers and `Decimal`, never floats);
- `reports`: the brief's and the contract's report, and its CSV;
- `charts`: each creator's figure over time, drawn as SVG or PNG (matplotlib, Agg);
- `share_of_voice`: a brand's share of the published deliverables on a topic.

A domain package above relationships: it reads the deal's rows (contracts, deliverables, metric
reports) and nothing below imports it.
"""
