"""The fake's signed requests pass the checks Slack's SDK and Bolt make."""

from __future__ import annotations

import asyncio
import json
import time

from aiohttp import web
from fakeslack import async_post_signed, form_body, post_signed, sign
from slack_sdk.signature import SignatureVerifier

FORM = "application/x-www-form-urlencoded"


async def test_post_signed_passes_signature_verification() -> None:
    verifier = SignatureVerifier("s3cret")
    seen: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        raw = await request.text()
        if not verifier.is_valid_request(raw, dict(request.headers)):
            return web.json_response({"error": "invalid request"}, status=401)
        seen.append(raw)
        return web.Response(text="")

    app = web.Application()
    app.router.add_post("/slack/events", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    url = f"http://127.0.0.1:{port}/slack/events"
    body = form_body({"type": "block_actions"})
    try:
        good = await asyncio.to_thread(post_signed, url, body, secret="s3cret", content_type=FORM)
        assert good == (200, "")
        bad = await asyncio.to_thread(post_signed, url, body, secret="x", content_type=FORM)
        status, text = bad
        assert (status, json.loads(text)) == (401, {"error": "invalid request"})
        stale = int(time.time()) - 600
        assert (
            await async_post_signed(url, body, secret="s3cret", content_type=FORM, timestamp=stale)
        )[0] == 401
        assert (await async_post_signed(url, body, secret="s3cret", content_type=FORM))[0] == 200
        assert seen == [body, body]
    finally:
        await runner.cleanup()


def test_sign_matches_slack_sdk() -> None:
    headers = sign("s", "a=b", timestamp=1700000000)
    assert headers["X-Slack-Signature"] == SignatureVerifier("s").generate_signature(
        timestamp="1700000000", body="a=b"
    )
