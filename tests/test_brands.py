from __future__ import annotations

import pytest

from tests.factories import add_member, assert_problem, create_brand, register, relogin


async def test_create_list_get_update_delete(client):
    owner = await register(client)
    brand = await create_brand(client, owner, "Oatly")
    assert brand["id"].startswith("brd_") and brand["role"] == "owner"
    listed = (await client.get("/v1/brands", headers=owner.headers)).json()
    assert [b["id"] for b in listed["data"]] == [brand["id"]]
    r = await client.patch(
        f"/v1/brands/{brand['id']}", json={"name": "Oatly AB"}, headers=owner.headers
    )
    assert r.status_code == 200 and r.json()["name"] == "Oatly AB"
    assert (
        await client.delete(f"/v1/brands/{brand['id']}", headers=owner.headers)
    ).status_code == 204
    assert_problem(
        await client.get(f"/v1/brands/{brand['id']}", headers=owner.headers), 404, "brand-not-found"
    )


async def test_another_tenant_gets_404_everywhere(client):
    owner, outsider = await register(client), await register(client)
    brand_id = (await create_brand(client, owner))["id"]
    h = outsider.headers
    for method, path, body in [
        ("GET", f"/v1/brands/{brand_id}", None),
        ("PATCH", f"/v1/brands/{brand_id}", {"name": "Mine now"}),
        ("DELETE", f"/v1/brands/{brand_id}", None),
        ("GET", f"/v1/brands/{brand_id}/members", None),
        ("GET", f"/v1/brands/{brand_id}/invitations", None),
        ("POST", f"/v1/brands/{brand_id}/invitations", {"email": outsider.email}),
        ("DELETE", f"/v1/brands/{brand_id}/members/{owner.id}", None),
        ("PATCH", f"/v1/brands/{brand_id}/members/{owner.id}", {"role": "member"}),
    ]:
        r = await client.request(method, path, json=body, headers=h)
        assert_problem(r, 404, "brand-not-found")
    assert (await client.get("/v1/brands", headers=h)).json()["data"] == []
    # Nothing changed.
    assert (await client.get(f"/v1/brands/{brand_id}", headers=owner.headers)).json()[
        "name"
    ] == "Acme"


async def test_invitation_flow_and_roles(client):
    owner, admin, member = await register(client), await register(client), await register(client)
    brand_id = (await create_brand(client, owner))["id"]
    await add_member(client, brand_id, owner, admin, "admin")
    await add_member(client, brand_id, admin, member, "member")
    members = (await client.get(f"/v1/brands/{brand_id}/members", headers=member.headers)).json()[
        "data"
    ]
    assert sorted(m["role"] for m in members) == ["admin", "member", "owner"]
    # A member cannot edit, invite or change roles.
    assert_problem(
        await client.patch(f"/v1/brands/{brand_id}", json={"name": "x"}, headers=member.headers),
        403,
        "forbidden",
    )
    assert_problem(
        await client.post(
            f"/v1/brands/{brand_id}/invitations",
            json={"email": "z@example.com"},
            headers=member.headers,
        ),
        403,
        "forbidden",
    )
    # An admin cannot create owners nor touch the owner.
    assert_problem(
        await client.post(
            f"/v1/brands/{brand_id}/invitations",
            json={"email": "z@example.com", "role": "owner"},
            headers=admin.headers,
        ),
        403,
    )
    assert_problem(
        await client.patch(
            f"/v1/brands/{brand_id}/members/{owner.id}",
            json={"role": "member"},
            headers=admin.headers,
        ),
        403,
    )
    assert_problem(
        await client.delete(f"/v1/brands/{brand_id}/members/{owner.id}", headers=admin.headers), 403
    )
    # An admin manages members.
    r = await client.patch(
        f"/v1/brands/{brand_id}/members/{member.id}", json={"role": "admin"}, headers=admin.headers
    )
    assert r.status_code == 200 and r.json()["role"] == "admin"
    assert (
        await client.delete(f"/v1/brands/{brand_id}/members/{member.id}", headers=admin.headers)
    ).status_code == 204
    assert_problem(await client.get(f"/v1/brands/{brand_id}", headers=member.headers), 404)
    # Only an owner deletes the brand.
    assert_problem(await client.delete(f"/v1/brands/{brand_id}", headers=admin.headers), 403)


async def test_last_owner_cannot_leave_or_be_demoted(client):
    owner, second = await register(client), await register(client)
    brand_id = (await create_brand(client, owner))["id"]
    assert_problem(
        await client.delete(f"/v1/brands/{brand_id}/members/{owner.id}", headers=owner.headers),
        409,
        "last-owner",
    )
    assert_problem(
        await client.patch(
            f"/v1/brands/{brand_id}/members/{owner.id}",
            json={"role": "admin"},
            headers=owner.headers,
        ),
        409,
        "last-owner",
    )
    await add_member(client, brand_id, owner, second, "owner")
    assert (
        await client.delete(f"/v1/brands/{brand_id}/members/{owner.id}", headers=owner.headers)
    ).status_code == 204
    assert_problem(
        await client.delete(f"/v1/brands/{brand_id}/members/{second.id}", headers=second.headers),
        409,
        "last-owner",
    )


async def test_members_may_leave(client):
    owner, member = await register(client), await register(client)
    brand_id = (await create_brand(client, owner))["id"]
    await add_member(client, brand_id, owner, member)
    assert (
        await client.delete(f"/v1/brands/{brand_id}/members/{member.id}", headers=member.headers)
    ).status_code == 204


async def test_invitation_rules(client, clock):
    from datetime import timedelta

    owner, invitee, stranger = (
        await register(client),
        await register(client),
        await register(client),
    )
    brand_id = (await create_brand(client, owner))["id"]
    r = await client.post(
        f"/v1/brands/{brand_id}/invitations",
        json={"email": invitee.email.upper()},
        headers=owner.headers,
    )
    assert r.status_code == 201
    invitation = r.json()
    assert invitation["email"] == invitee.email and invitation["state"] == "pending"
    # One pending invitation per email.
    assert_problem(
        await client.post(
            f"/v1/brands/{brand_id}/invitations",
            json={"email": invitee.email},
            headers=owner.headers,
        ),
        409,
        "invitation-pending",
    )
    # Only the invitee sees and answers it.
    assert (await client.get("/v1/me/brand-invitations", headers=stranger.headers)).json()[
        "data"
    ] == []
    assert_problem(
        await client.post(
            f"/v1/me/brand-invitations/{invitation['id']}/accept", headers=stranger.headers
        ),
        404,
    )
    mine = (await client.get("/v1/me/brand-invitations", headers=invitee.headers)).json()["data"]
    assert [i["id"] for i in mine] == [invitation["id"]]
    # Expired invitations cannot be accepted.
    clock.advance(timedelta(days=8))
    owner, invitee = await relogin(client, owner), await relogin(client, invitee)
    assert_problem(
        await client.post(
            f"/v1/me/brand-invitations/{invitation['id']}/accept", headers=invitee.headers
        ),
        409,
        "invitation-not-pending",
    )
    # Revoking, then a fresh invitation, then declining.
    r = await client.delete(
        f"/v1/brands/{brand_id}/invitations/{invitation['id']}", headers=owner.headers
    )
    assert r.json()["state"] == "revoked"
    fresh = (
        await client.post(
            f"/v1/brands/{brand_id}/invitations",
            json={"email": invitee.email},
            headers=owner.headers,
        )
    ).json()
    r = await client.post(
        f"/v1/me/brand-invitations/{fresh['id']}/decline", headers=invitee.headers
    )
    assert r.json()["state"] == "declined"
    assert_problem(
        await client.post(
            f"/v1/me/brand-invitations/{fresh['id']}/accept", headers=invitee.headers
        ),
        409,
    )
    # Members cannot be invited again.
    assert_problem(
        await client.post(
            f"/v1/brands/{brand_id}/invitations", json={"email": owner.email}, headers=owner.headers
        ),
        409,
        "already-member",
    )


@pytest.mark.parametrize(
    "body", [{"name": ""}, {"name": 7}, {"name": "x" * 201}, {}, {"name": "A", "extra": 1}]
)
async def test_brand_input_validation(client, body):
    owner = await register(client)
    assert_problem(
        await client.post("/v1/brands", json=body, headers=owner.headers), 422, "validation-error"
    )
    assert (await client.get("/v1/brands", headers=owner.headers)).json()["data"] == []


async def test_a_brand_with_live_briefs_or_contracts_cannot_be_deleted(client):
    from tests.factories import create_brief, create_contract

    deal, contract = await create_contract(client)
    owner, brand_id = deal.brand_owner, deal.brand["id"]
    r = await client.delete(f"/v1/brands/{brand_id}", headers=owner.headers)
    body = assert_problem(r, 409, "brand-has-activity")
    assert "contract" in body["detail"]
    # Nothing changed: the brand, its brief and the contract are all still there.
    assert (await client.get(f"/v1/brands/{brand_id}", headers=owner.headers)).status_code == 200
    assert (
        await client.get(f"/v1/contracts/{contract['id']}", headers=owner.headers)
    ).status_code == 200

    # An open brief alone also blocks; drafts and cancelled briefs go with the brand.
    other_owner = await register(client)
    other = await create_brand(client, other_owner, "Other")
    await create_brief(client, other_owner, other["id"], state="open")
    r = await client.delete(f"/v1/brands/{other['id']}", headers=other_owner.headers)
    assert_problem(r, 409, "brand-has-activity")

    quiet_owner = await register(client)
    quiet = await create_brand(client, quiet_owner, "Quiet")
    await create_brief(client, quiet_owner, quiet["id"], state="draft")
    await create_brief(client, quiet_owner, quiet["id"], state="cancelled")
    r = await client.delete(f"/v1/brands/{quiet['id']}", headers=quiet_owner.headers)
    assert r.status_code == 204
