"""Relationships (issue 15): the IRM half of Rapport, above money in the layers.

- records.py      one record per brand-influencer pair: status machine, notes, tags, lists;
                  `record_contact` is the reaction to first contact (filled into negotiation's
                  `CONTACT_HOOKS` by app/services/wiring.py)
- timeline.py     every interaction of a pair, read from the deal's rows and the audit trail
- performance.py  a creator's history figures and the matching's relationship component
                  (`relationship_scores`, filled into matching's `RELATIONSHIP_SCORES` by wiring)
- ratings.py      ratings both ways after a contract ends, revealed by the double-blind rule
- reengagement.py strong past performers a brand has not engaged lately; brands that came back

Lower domains never import this package; docs/relationships.md says what each figure means and
who sees what.
"""
