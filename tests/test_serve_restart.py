"""`rapport serve` stopped and started again keeps its Stripe: the sandbox child keeps its state
in `var/stripe-sandbox.json` beside the database (issue 10: after a restart the creator's
account was unknown, onboarding answered 502 and transfers dead-lettered).

Real processes: `rapport serve` (API, embedded worker, the sandbox child) in an empty folder,
driven over HTTP; the sandbox's webhooks reach the API for real.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from rapport_dev.ports import free_port, listening

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "correct-horse-battery-staple"


class Serve:
    def __init__(self, folder: Path, api_port: int, stripe_port: int) -> None:
        env = os.environ | {
            "RAPPORT_PORT": str(api_port),
            "RAPPORT_STRIPE_API_BASE": f"http://127.0.0.1:{stripe_port}",
            "RAPPORT_DEMO_DATA": "false",
            "RAPPORT_LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(REPO),
        }
        env.pop("RAPPORT_DATABASE_URL", None)
        env.pop("RAPPORT_ENVIRONMENT", None)
        self.stripe_port = stripe_port
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve"],
            cwd=folder,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 120
        while not (listening(api_port) and listening(stripe_port)):
            assert self.process.poll() is None, self.process.communicate()[0]
            assert time.monotonic() < deadline, "rapport serve did not come up"
            time.sleep(0.2)

    def stop(self) -> str:
        self.process.send_signal(signal.SIGTERM)
        output = self.process.communicate(timeout=30)[0]
        deadline = time.monotonic() + 10
        while listening(self.stripe_port) and time.monotonic() < deadline:
            time.sleep(0.1)
        return output


def _wait_for(http: httpx.Client, headers: dict[str, str], status: str) -> dict:
    deadline = time.monotonic() + 30
    while True:
        got = http.get("/v1/influencers/me/payouts/account", headers=headers).json()
        if got.get("status") == status or time.monotonic() > deadline:
            return got
        time.sleep(0.3)


def test_a_restart_keeps_the_creators_stripe_account(tmp_path: Path) -> None:
    api_port, stripe_port = free_port(), free_port()
    base = f"http://127.0.0.1:{api_port}"
    serve = Serve(tmp_path, api_port, stripe_port)
    try:
        with httpx.Client(base_url=base, trust_env=False, timeout=30) as http:
            email = "restart@example.com"
            registered = http.post(
                "/v1/auth/register",
                json={"email": email, "password": PASSWORD, "full_name": "Re Start"},
            )
            assert registered.status_code == 201, registered.text
            token = http.post("/v1/auth/token", data={"username": email, "password": PASSWORD})
            headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
            profile = http.post(
                "/v1/influencers/me",
                json={"display_name": "Re Start", "country": "US", "languages": ["en"]},
                headers=headers,
            )
            assert profile.status_code == 201, profile.text
            link = http.post("/v1/influencers/me/payouts/onboarding", headers=headers)
            assert link.status_code == 201, link.text
            account_id = link.json()["account_id"]
            visit = httpx.get(link.json()["onboarding_url"], trust_env=False)
            assert visit.status_code in (200, 303, 307), visit.text  # followed to the return page
            assert _wait_for(http, headers, "enabled")["status"] == "enabled"
    finally:
        first_output = serve.stop()
    assert "Traceback" not in first_output
    assert (tmp_path / "var" / "stripe-sandbox.json").exists()

    serve = Serve(tmp_path, api_port, stripe_port)
    try:
        with httpx.Client(base_url=base, trust_env=False, timeout=30) as http:
            assert http.get("/readyz").status_code == 200
            token = http.post("/v1/auth/token", data={"username": email, "password": PASSWORD})
            headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
            status = http.get("/v1/influencers/me/payouts/account", headers=headers).json()
            assert status["status"] == "enabled" and status["account_id"] == account_id
            # Stripe still knows the account: a new onboarding link for it, not a 502.
            again = http.post("/v1/influencers/me/payouts/onboarding", headers=headers)
            assert again.status_code == 201, again.text
            assert again.json()["account_id"] == account_id
        stripe_http = httpx.Client(
            base_url=f"http://127.0.0.1:{stripe_port}",
            headers={"Authorization": "Bearer sk_test_restart"},
            trust_env=False,
        )
        with stripe_http:
            account = stripe_http.get(f"/v1/accounts/{account_id}")
        assert account.status_code == 200 and account.json()["payouts_enabled"] is True
    finally:
        second_output = serve.stop()
    assert "Traceback" not in second_output
