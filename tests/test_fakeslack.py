"""The fake Slack works with the real slack_sdk clients over real HTTP and WebSocket."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator

import pytest
from fakeslack import (  # tests/ has no __init__.py: pytest puts tests/ itself on sys.path
    FakeSlack,
    app_home_opened_body,
    block_actions_body,
    block_text,
    button_click_body,
    find_button,
    form_body,
    slash_command_body,
    view_submission_body,
)
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook import WebhookClient

TOKEN = "xoxb-test-token"
VIEW = {"id": "V1", "team_id": "T111", "app_id": "A111", "callback_id": "hitl.edit", "hash": "h"}
BLOCKS = [
    {"type": "section", "block_id": "summary", "text": {"type": "mrkdwn", "text": "*Deploy* v2?"}},
    {
        "type": "actions",
        "block_id": "decide",
        "elements": [
            {
                "type": "button",
                "action_id": "hitl.approve",
                "value": "req-1",
                "style": "primary",
                "text": {"type": "plain_text", "text": "Approve"},
            },
            {
                "type": "button",
                "action_id": "hitl.reject",
                "value": "req-1",
                "style": "danger",
                "text": {"type": "plain_text", "text": "Reject"},
            },
        ],
    },
]
MODAL = {
    "type": "modal",
    "callback_id": "hitl.edit",
    "private_metadata": "C0APPROVALS|1.2",
    "title": {"type": "plain_text", "text": "Edit"},
    "submit": {"type": "plain_text", "text": "Save"},
    "blocks": [
        {
            "type": "input",
            "block_id": "args",
            "label": {"type": "plain_text", "text": "Args"},
            "element": {"type": "plain_text_input", "action_id": "value"},
        }
    ],
}
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as f:
        f.usergroups = {"S0FIN": ["U1", "U2"]}
        yield f


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    return WebClient(token=TOKEN, base_url=fake.api_url)


def test_post_and_update_message_are_stored_as_current_state(
    fake: FakeSlack, client: WebClient
) -> None:
    posted = client.chat_postMessage(channel="C0APPROVALS", text="Deploy v2?", blocks=BLOCKS)
    assert (posted["ok"], posted["channel"]) == (True, "C0APPROVALS")
    assert posted["message"]["blocks"] == BLOCKS
    second = client.chat_postMessage(channel="C0APPROVALS", text="again")
    assert float(second["ts"]) > float(posted["ts"])

    approved = [{"type": "section", "text": {"type": "mrkdwn", "text": "Approved by <@U1>"}}]
    client.chat_update(channel="C0APPROVALS", ts=posted["ts"], text="Approved", blocks=approved)

    msg = fake.message("C0APPROVALS", posted["ts"])
    assert (msg.text, msg.updates) == ("Approved", 1)
    assert block_text(msg.blocks) == "Approved by <@U1>"
    assert [m.ts for m in fake.messages("C0APPROVALS")] == [posted["ts"], second["ts"]]
    call = fake.calls("chat.postMessage")[0]
    assert call.headers["authorization"] == f"Bearer {TOKEN}"
    assert call.headers["content-type"].startswith("application/json")
    assert call.params["blocks"] == BLOCKS


def test_blocks_sent_as_json_string_in_a_form_are_recorded_as_json(
    fake: FakeSlack, client: WebClient
) -> None:
    form = {"channel": "C1", "text": "t", "blocks": json.dumps(BLOCKS)}
    client.api_call("chat.postMessage", data=form)
    assert fake.calls()[0].headers["content-type"] == FORM
    assert fake.messages("C1")[0].blocks == BLOCKS


def test_update_of_unknown_message_is_message_not_found(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as e:
        client.chat_update(channel="C0APPROVALS", ts="1.000001", text="x")
    assert e.value.response["error"] == "message_not_found"


@pytest.mark.parametrize("token", ["xoxb-wrong", "xapp-test-token"])
def test_wrong_token_is_invalid_auth(fake: FakeSlack, token: str) -> None:
    with pytest.raises(SlackApiError) as e:
        WebClient(token=token, base_url=fake.api_url).auth_test()
    assert e.value.response["error"] == "invalid_auth"


def test_auth_test_answers_bot_identity(client: WebClient) -> None:
    answer = client.auth_test()
    assert (answer["user_id"], answer["bot_id"], answer["team_id"]) == ("U0BOT", "B0BOT", "T111")


def test_scripted_429_then_the_next_call_succeeds(fake: FakeSlack, client: WebClient) -> None:
    fake.fail("chat.postMessage", status=429, retry_after=1)
    with pytest.raises(SlackApiError) as e:
        client.chat_postMessage(channel="C1", text="a")
    assert e.value.response.status_code == 429
    assert e.value.response.headers["Retry-After"] == "1"
    assert e.value.response["error"] == "ratelimited"
    assert client.chat_postMessage(channel="C1", text="a")["ok"]
    assert [c.status for c in fake.calls("chat.postMessage")] == [429, 200]
    assert len(fake.messages()) == 1


def test_fault_only_hits_its_channel_and_5xx_and_200_errors(
    fake: FakeSlack, client: WebClient
) -> None:
    fake.fail("chat.postMessage", status=503, channel="C2")
    fake.fail("chat.update", status=200, error="cant_update_message")
    assert client.chat_postMessage(channel="C1", text="a")["ok"]
    with pytest.raises(SlackApiError) as e:
        client.chat_postMessage(channel="C2", text="a")
    assert (e.value.response.status_code, e.value.response["error"]) == (503, "internal_error")
    with pytest.raises(SlackApiError) as e:
        client.chat_update(channel="C1", ts=fake.messages()[0].ts, text="b")
    assert e.value.response["error"] == "cant_update_message"


def test_delay_fault_holds_the_answer(fake: FakeSlack) -> None:
    fake.fail("chat.postMessage", status=200, delay=0.3)
    started = time.monotonic()
    WebClient(token=TOKEN, base_url=fake.api_url).chat_postMessage(channel="C1", text="slow")
    assert time.monotonic() - started >= 0.3


def test_a_call_held_by_a_delay_is_recorded_before_it_is_answered(fake: FakeSlack) -> None:
    fake.fail("chat.postMessage", status=200, delay=2)
    impatient = WebClient(token=TOKEN, base_url=fake.api_url, timeout=0.2)
    with pytest.raises(TimeoutError):
        impatient.chat_postMessage(channel="C1", text="slow")
    assert fake.wait_for_call("chat.postMessage", timeout=0).status is None
    assert impatient.chat_postMessage(channel="C1", text="retry")["ok"]


def test_a_bot_in_another_process_reaches_the_fake(fake: FakeSlack) -> None:
    script = (
        "import sys; from slack_sdk import WebClient; "
        "WebClient(token='xoxb-test-token', base_url=sys.argv[1])"
        ".chat_postMessage(channel='C0APPROVALS', text='from child')"
    )
    subprocess.run([sys.executable, "-c", script, fake.api_url], check=True, timeout=30)
    assert [m.text for m in fake.messages("C0APPROVALS")] == ["from child"]


def test_channel_errors(fake: FakeSlack, client: WebClient) -> None:
    fake.channels_not_found.add("C0GONE")
    fake.not_in_channel.add("C0OUT")
    for channel, error in [
        ("C0GONE", "channel_not_found"),
        ("C0OUT", "not_in_channel"),
        ("#general", "channel_not_found"),
    ]:
        with pytest.raises(SlackApiError) as e:
            client.chat_postMessage(channel=channel, text="x")
        assert e.value.response["error"] == error
    assert fake.messages() == []


def test_post_to_a_user_id_lands_in_the_dm(fake: FakeSlack, client: WebClient) -> None:
    assert client.chat_postMessage(channel="U0BOB", text="hi")["channel"] == "D0BOB"


def test_views_open_update_and_publish(fake: FakeSlack, client: WebClient) -> None:
    opened = client.views_open(trigger_id="1.2.abc", view=MODAL)["view"]
    assert opened["id"].startswith("V")
    assert opened["hash"]
    assert (opened["callback_id"], opened["private_metadata"]) == ("hitl.edit", "C0APPROVALS|1.2")
    with pytest.raises(SlackApiError) as e:
        client.views_update(view_id=opened["id"], hash="stale", view=MODAL)
    assert e.value.response["error"] == "hash_conflict"
    client.views_update(
        view_id=opened["id"], hash=opened["hash"], view={**MODAL, "callback_id": "x"}
    )
    assert [v["callback_id"] for v in fake.opened_views()] == ["x"]

    client.views_publish(user_id="U0ALICE", view={"type": "home", "blocks": []})
    client.views_publish(user_id="U0ALICE", view={"type": "home", "blocks": BLOCKS})
    published = fake.published_views("U0ALICE")
    assert [p["blocks"] for p in published] == [[], BLOCKS]
    assert published[0]["id"] == published[1]["id"]


def test_usergroups_users_and_conversations(client: WebClient) -> None:
    assert client.usergroups_users_list(usergroup="S0FIN")["users"] == ["U1", "U2"]
    with pytest.raises(SlackApiError) as e:
        client.usergroups_users_list(usergroup="S0NOPE")
    assert e.value.response["error"] == "no_such_subteam"
    assert client.users_info(user="U1")["user"]["id"] == "U1"
    assert client.conversations_info(channel="C1")["channel"]["id"] == "C1"
    assert client.api_call("reactions.add", json={"name": "x"})["ok"]


def test_ephemeral_is_recorded(fake: FakeSlack, client: WebClient) -> None:
    answer = client.chat_postEphemeral(channel="C1", user="U1", text="only you")
    assert fake.ephemerals("U1")[0].message_ts == answer["message_ts"]


def test_wait_for_call_sees_past_and_future_calls(fake: FakeSlack, client: WebClient) -> None:
    client.chat_postMessage(channel="C1", text="first")
    assert fake.wait_for_call("chat.postMessage", timeout=0).params["text"] == "first"
    timer = threading.Timer(0.1, lambda: client.chat_postMessage(channel="C1", text="second"))
    timer.start()
    calls = fake.wait_for_calls("chat.postMessage", 2, timeout=5)
    assert [c.params["text"] for c in calls] == ["first", "second"]
    hit = fake.wait_for_call("chat.postMessage", lambda c: c.params["text"] == "second", timeout=1)
    assert hit.status == 200
    with pytest.raises(TimeoutError):
        fake.wait_for_call("chat.update", timeout=0.05)
    fake.reset()
    assert (fake.calls(), fake.messages()) == ([], [])


async def test_async_web_client_and_async_wait(fake: FakeSlack) -> None:
    client = AsyncWebClient(token=TOKEN, base_url=fake.api_url)
    waiter = asyncio.create_task(fake.async_wait_for_call("chat.postMessage", timeout=5))
    posted = await client.chat_postMessage(channel="C1", text="hi", blocks=BLOCKS)
    assert (await waiter).params["channel"] == "C1"
    assert fake.message("C1", posted["ts"]).blocks == BLOCKS
    assert (await client.usergroups_users_list(usergroup="S0FIN"))["users"] == ["U1", "U2"]
    fake.fail("chat.update", status=429, retry_after=2)
    with pytest.raises(SlackApiError) as e:
        await client.chat_update(channel="C1", ts=posted["ts"], text="x")
    assert e.value.response.headers["Retry-After"] == "2"


def test_block_actions_body_clicks_a_posted_button(fake: FakeSlack, client: WebClient) -> None:
    client.chat_postMessage(channel="C0APPROVALS", text="Deploy v2?", blocks=BLOCKS)
    msg = fake.messages()[0]
    assert find_button(msg.blocks, "hitl.approve") == BLOCKS[1]["elements"][0]
    assert find_button(msg.blocks, "nope") is None
    body = block_actions_body(msg, "hitl.approve", user_id="U1")
    assert body["actions"][0] | {"action_ts": "-"} == {
        "action_id": "hitl.approve",
        "block_id": "decide",
        "value": "req-1",
        "type": "button",
        "style": "primary",
        "text": {"type": "plain_text", "text": "Approve"},
        "action_ts": "-",
    }
    assert body["container"]["message_ts"] == msg.ts == body["message"]["ts"]
    assert (body["channel"]["id"], body["user"]["id"]) == ("C0APPROVALS", "U1")
    with pytest.raises(LookupError):
        block_actions_body(msg, "hitl.escalate")

    # respond(replace_original=True) through the response_url replaces the clicked message
    WebhookClient(body["response_url"]).send(text="Approved", replace_original=True)
    assert fake.message("C0APPROVALS", msg.ts).text == "Approved"
    assert fake.wait_for_call("response_url").params["replace_original"] is True


def test_builders_have_slack_shapes(fake: FakeSlack, client: WebClient) -> None:
    view = client.views_open(trigger_id="t", view=MODAL)["view"]
    values = {"args": {"value": {"type": "plain_text_input", "value": "x=1"}}}
    body = view_submission_body(view, values)
    assert (body["type"], body["view"]["state"]["values"]) == ("view_submission", values)
    assert body["view"]["id"] == view["id"]
    assert json.loads(urllib.parse.parse_qs(form_body(body))["payload"][0]) == body
    fields = dict(urllib.parse.parse_qsl(slash_command_body("list")))
    assert (fields["command"], fields["text"], fields["api_app_id"]) == ("/hitl", "list", "A111")
    assert fields["response_url"].startswith(fake.base_url + "webhook/")
    event = app_home_opened_body("U0ALICE")
    assert (event["type"], event["event"]["tab"]) == ("event_callback", "home")


async def test_socket_mode_client_receives_envelope_and_acks(fake: FakeSlack) -> None:
    web_client = AsyncWebClient(token=TOKEN, base_url=fake.api_url)
    socket_client = SocketModeClient(app_token="xapp-test-token", web_client=web_client)
    received: list[SocketModeRequest] = []

    async def listener(client: AsyncBaseSocketModeClient, req: SocketModeRequest) -> None:
        received.append(req)
        await client.send_socket_mode_response(
            SocketModeResponse(envelope_id=req.envelope_id, payload={"response_action": "clear"})
        )

    socket_client.socket_mode_request_listeners.append(listener)
    try:
        await socket_client.connect()
        assert await fake.async_socket_connected(timeout=5)
        opened = fake.calls("apps.connections.open")[0]
        assert opened.headers["authorization"] == "Bearer xapp-test-token"
        payload = view_submission_body(VIEW, {})
        ack = await fake.async_send_envelope("interactive", payload, timeout=5)
        assert ack == {
            "envelope_id": received[0].envelope_id,
            "payload": {"response_action": "clear"},
        }
        assert (received[0].type, received[0].payload) == ("interactive", payload)
        assert received[0].accepts_response_payload is True

        fake.send_disconnect()
        await fake.async_wait_until(lambda: fake.socket_connections == 2, timeout=10)
        assert len(fake.calls("apps.connections.open")) == 2
        ack = await fake.async_send_envelope("events_api", app_home_opened_body("U1"), timeout=5)
        assert (received[1].retry_attempt, ack["envelope_id"]) == (0, received[1].envelope_id)
    finally:
        await socket_client.close()


def test_send_envelope_without_client_times_out(fake: FakeSlack) -> None:
    with pytest.raises(TimeoutError):
        fake.send_envelope("events_api", {}, timeout=0.05)


def test_get_permalink_links_a_posted_message_and_refuses_an_unknown_one(
    fake: FakeSlack, client: WebClient
) -> None:
    ts = client.chat_postMessage(channel="C0APPROVALS", text="hi")["ts"]
    link = client.chat_getPermalink(channel="C0APPROVALS", message_ts=ts)["permalink"]
    assert link == f"https://fake.slack.com/archives/C0APPROVALS/p{ts.replace('.', '')}"
    with pytest.raises(SlackApiError) as info:
        client.chat_getPermalink(channel="C0APPROVALS", message_ts="1.000001")
    assert info.value.response["error"] == "message_not_found"


def test_a_reply_to_an_ephemeral_click_replaces_that_ephemeral_only(fake: FakeSlack) -> None:
    """A button in an ephemeral reply (a /hitl pending page): its response_url replaces that
    ephemeral, for the person who clicked, as Slack does."""
    fake.add_ephemeral("C0APPROVALS", "U0ALICE", "page 1", BLOCKS)
    fake.add_ephemeral("C0APPROVALS", "U0BOB", "page 1", BLOCKS)
    alice = fake.ephemerals("U0ALICE")[0]
    body = button_click_body(
        BLOCKS,
        "hitl.approve",
        user_id="U0ALICE",
        channel_id="C0APPROVALS",
        message_ts=alice.message_ts,
    )
    WebhookClient(body["response_url"]).send(text="page 2", replace_original=True)
    assert [e.text for e in fake.ephemerals("U0ALICE")] == ["page 2"]
    assert [e.text for e in fake.ephemerals("U0BOB")] == ["page 1"]


def test_a_modal_opens_on_the_screen_of_whoever_clicked(fake: FakeSlack) -> None:
    client = WebClient(token=TOKEN, base_url=fake.api_url)
    view = {"type": "modal", "title": {"type": "plain_text", "text": "Hi"}, "blocks": []}
    opened = client.views_open(trigger_id=fake.trigger_for("U0BOB"), view=view)["view"]
    assert [v["id"] for v in fake.views_of("U0BOB")] == [opened["id"]]
    assert fake.views_of("U0ALICE") == []
    fake.replace_view(opened["id"], None)
    assert fake.views_of("U0BOB") == []
