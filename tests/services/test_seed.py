"""Synthetic marketplace generator: determinism, shapes, planted signals, ground truth."""

from __future__ import annotations

import json
import time
from datetime import date
from functools import cache
from pathlib import Path

import numpy as np

from app.services.catalogue.currencies import MINOR_UNIT_EXPONENTS
from app.services.matching import ListingIndex
from app.services.matching import vocab as mv
from rapport_dev.seed import (
    DEFAULT_NOW,
    Marketplace,
    generate_marketplace,
    iter_influencers,
    make_brands,
    make_briefs,
    write_truth,
)
from rapport_dev.seed import vocab as sv


@cache
def market(seed: int = 11, listings: int = 1_000) -> Marketplace:
    return generate_marketplace(listings=listings, brands=10, briefs=12, seed=seed)


def dump(m: Marketplace) -> str:
    return json.dumps([m.listings, m.brands, m.briefs], sort_keys=True)


def test_same_seed_same_output_byte_for_byte(tmp_path: Path) -> None:
    a = generate_marketplace(listings=300, brands=5, briefs=6, seed=5)
    b = generate_marketplace(listings=300, brands=5, briefs=6, seed=5)
    assert dump(a) == dump(b)
    write_truth(tmp_path / "a.json", a.truth)
    write_truth(tmp_path / "b.json", b.truth)
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    c = generate_marketplace(listings=300, brands=5, briefs=6, seed=6)
    assert dump(a) != dump(c)
    assert {x["id"] for x in a.listings}.isdisjoint({x["id"] for x in c.listings})


def test_streaming_matches_the_whole_marketplace() -> None:
    streamed = [x for batch in iter_influencers(1_000, seed=11) for x in batch]
    assert json.dumps(streamed) == json.dumps(market().listings)


def test_thousand_listings_generate_fast() -> None:
    start = time.perf_counter()
    generate_marketplace(listings=1_000, brands=10, briefs=10, seed=99)
    assert time.perf_counter() - start < 5.0


def test_listings_follow_the_catalogue_shape() -> None:
    listings = market().listings
    handles: set[tuple[str, str]] = set()
    for x in listings:
        assert x["id"].startswith("inf_") and "is_fake" not in json.dumps(x)
        assert x["country"] in sv.HOME_COUNTRIES and x["languages"] and x["topics"]
        assert len(x["content_samples"]) == 3 and x["bio"]
        assert 1 <= len(x["accounts"]) <= 3
        for acc in x["accounts"]:
            assert acc["id"].startswith("sac_") and acc["platform"] in mv.PLATFORMS
            key = (acc["platform"], acc["handle"].lower())
            assert key not in handles
            handles.add(key)
            for field in ("followers", "avg_views", "avg_likes", "avg_comments", "avg_shares"):
                assert isinstance(acc[field], int) and acc[field] >= 0
            dates = [p["date"] for p in acc["follower_history"]]
            assert len(dates) == 12 and dates == sorted(dates)
            assert acc["follower_history"][-1]["followers"] == acc["followers"]
        currency = sv.HOME_COUNTRIES[x["country"]][1]
        for item in x["rate_card"]:
            assert item["currency"] == currency and isinstance(item["amount"], int)
            assert item["amount"] > 0 and item["deliverable_type"] in mv.DELIVERABLES
            platform = mv.DELIVERABLE_PLATFORM[item["deliverable_type"]]
            assert platform in {a["platform"] for a in x["accounts"]}
        dates = [p["date"] for p in x["sponsored_posts"]]
        assert dates == sorted(dates) and all(d <= DEFAULT_NOW.isoformat() for d in dates)
        if x["available"]:
            assert x["unavailable_until"] is None


def test_zero_decimal_currencies_are_whole_units() -> None:
    jp = [x for x in market().listings if x["country"] == "JP" and x["rate_card"]]
    assert jp and MINOR_UNIT_EXPONENTS["JPY"] == 0
    # 1,000 yen is about 7 USD: every yen price is at least a few thousand yen.
    assert all(i["amount"] >= 1_000 for x in jp for i in x["rate_card"])


def test_audience_distributions_sum_to_100() -> None:
    for x in market().listings:
        for dist in x["audience"].values():
            assert abs(sum(dist.values()) - 100.0) <= 1.0
            assert all(0 < v <= 100 and round(v, 1) == v for v in dist.values())


def test_shares_of_fake_over_exposed_and_available_listings() -> None:
    m = market()
    n = len(m.listings)
    assert 0.05 < len(m.truth.fake_listings) / n < 0.11
    assert 0.85 < sum(x["available"] for x in m.listings) / n < 0.95
    index = ListingIndex.build(m.listings, as_of=DEFAULT_NOW)
    stale = (index.cols["freshness"][: index.n] < 0.5).mean()
    assert 0.06 < stale < 0.15


def test_fake_accounts_show_the_signals_on_average() -> None:
    m = market()
    index = ListingIndex.build(m.listings, as_of=DEFAULT_NOW)
    fake = np.isin(np.array(index.ids), m.truth.fake_listings)
    c = index.cols
    rows = np.arange(index.n)
    main_ratio = c["er_ratio"][c["main_platform"][: index.n], rows]
    # Some fakes also buy likes, which hides this signal; on the median it still shows.
    assert np.nanmedian(main_ratio[fake]) < 0.7 * np.nanmedian(main_ratio[~fake])
    assert c["spike"][: index.n][fake].mean() > 3 * c["spike"][: index.n][~fake].mean()
    geo = c["geo_mismatch"][: index.n]
    assert geo[fake].mean() > 3 * geo[~fake].mean()
    auth = c["authenticity"][: index.n]
    assert auth[fake].mean() < 0.4 < 0.9 < auth[~fake].mean()


def test_brands_and_briefs_are_consistent() -> None:
    now = date(2026, 11, 24)
    brands = make_brands(8, seed=3)
    assert len({b["id"] for b in brands}) == 8
    assert all(b["id"].startswith("brd_") and b["website"].startswith("https://") for b in brands)
    briefs = make_briefs(40, brands, seed=3, now=now)
    brand_ids = {b["id"] for b in brands}
    assert sum(b["state"] == "open" for b in briefs) > 25
    for b in briefs:
        assert b["id"].startswith("brf_") and b["brand_id"] in brand_ids
        t = b["timeline"]
        assert now.isoformat() < t["application_deadline"] < t["content_due"]
        assert t["content_due"] < t["publish_start"] < t["publish_end"]
        budget = b["budget"]
        assert 0 < budget["per_influencer_min"] < budget["per_influencer_max"] <= budget["total"]
        assert budget["currency"] in MINOR_UNIT_EXPONENTS
        assert b["topics"] and b["platforms"] and b["deliverables"]
        assert {mv.DELIVERABLE_PLATFORM[d["type"]] for d in b["deliverables"]} <= set(
            b["platforms"]
        )
        assert b["visibility"] in {"public", "invite_only"}
    assert make_briefs(40, brands, seed=3, now=now) == briefs


def test_ground_truth_grades_and_json(tmp_path: Path) -> None:
    m = market()
    fakes = set(m.truth.fake_listings)
    listing_ids = {x["id"] for x in m.listings}
    graded_3 = 0
    for brief in m.briefs:
        grades = m.truth.briefs[brief["id"]]
        assert set(grades.values()) <= {1, 2, 3}
        assert not fakes & set(grades) and set(grades) <= listing_ids
        graded_3 += sum(g == 3 for g in grades.values())
    assert graded_3 > 0
    write_truth(tmp_path / "truth.json", m.truth)
    data = json.loads((tmp_path / "truth.json").read_text())
    assert set(data) == {"seed", "fake_listings", "briefs"}
    assert data["seed"] == 11 and set(data["fake_listings"]) == fakes
    assert data["briefs"] == m.truth.briefs
