"""The playground in a real headless Chromium (Debian's ``chromium``, driven by Playwright):
what a new user does after ``make run``, click by click.

Without a Chromium the tests skip, unless ``HITL_REQUIRE_BROWSER=1`` (CI sets it) makes that a
failure. The screenshot goes to a temporary directory, or to ``HITL_SCREENSHOT_DIR`` (``make
screenshot`` refreshes the README's copy that way).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from devproc import DevProcess, clean_env

from hitl_slack.playground.redisproc import free_port

playwright = pytest.importorskip("playwright.sync_api")


def _chromium() -> str:
    path = os.environ.get("HITL_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        message = "no chromium (Debian: apt install chromium; or set HITL_CHROMIUM)"
        if os.environ.get("HITL_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def dev(redis_url: str, prefix: str) -> Iterator[DevProcess]:
    if os.environ.get("HITL_SCREENSHOT_DIR"):  # the README's picture: as a new user sees it,
        # with the playground's own throwaway Redis and its hitl-dev prefix
        env = clean_env(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    else:
        env = clean_env(REDIS_URL=redis_url, HITL_KEY_PREFIX=prefix)
    proc = DevProcess(env).start()
    try:
        yield proc.ready()
    finally:
        proc.stop()


@pytest.fixture
def page(browser: Any, dev: DevProcess) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    # A console error is a bug too (a CSP violation, a failed request the page did not expect).
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.goto(dev.url)
    pg.get_by_test_id("person").wait_for()
    yield pg
    context.close()
    assert not errors, f"errors on the page: {errors}"


def _screenshot_dir(tmp_path: Path) -> Path:
    target = os.environ.get("HITL_SCREENSHOT_DIR")
    return Path(target) if target else tmp_path


def _send(page: Any, **fields: str) -> str:
    """Fill the test request form and send it; the request id the agent panel shows."""
    form = page.get_by_test_id("request-form")
    for name, value in fields.items():
        field = form.locator(f"[name={name}]")
        if name in ("risk", "requested_by"):
            field.select_option(value)
        else:
            field.fill(value)
    before = page.get_by_test_id("agent-request").count()
    page.get_by_test_id("send-request").click()
    playwright.expect(page.get_by_test_id("agent-request")).to_have_count(before + 1)
    entry = page.get_by_test_id("agent-request").first
    request_id = entry.get_attribute("data-request-id")
    assert request_id
    return str(request_id)


def _as(page: Any, user: str) -> None:
    page.get_by_test_id("person").select_option(user)


def _message(page: Any, request_id: str) -> Any:
    """The channel message of ``request_id`` (it is in the channel the page shows)."""
    return page.get_by_test_id("message").filter(has_text=request_id)


def _button(message: Any, action_id: str) -> Any:
    return message.locator(f'button[data-action-id="{action_id}"]')


def test_reject_with_a_reason_after_an_outsider_is_refused(
    page: Any, dev: DevProcess, tmp_path: Path
) -> None:
    expect = playwright.expect
    request_id = _send(
        page,
        summary="Refund order A-1001",
        action="refund_order",
        payload=json.dumps({"order": "A-1001", "amount": 120, "currency": "EUR"}),
        risk="high",
        timeout="600",
    )
    entry = page.locator(f'[data-testid="agent-request"][data-request-id="{request_id}"]')
    expect(entry).to_have_attribute("data-status", "waiting")
    message = _message(page, request_id)
    expect(message).to_be_visible()  # the page went to #finance, where the route posted it
    expect(page.get_by_test_id("channel-C0FINANCE")).to_have_class(re.compile(r"\bactive\b"))
    expect(_button(message, "hitl.approve")).to_be_visible()

    _as(page, "U0MALLORY")
    _button(message, "hitl.approve").click()
    # A high-risk request: Approve asks "are you sure?" first (the route's confirm = "high").
    dialog = page.get_by_test_id("confirm")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("refund_order")
    page.get_by_test_id("confirm-ok").click()
    expect(dialog).to_have_count(0)
    refusal = page.get_by_test_id("ephemeral").filter(has_text="not an approver")
    expect(refusal).to_be_visible()
    expect(refusal).to_contain_text("Only visible to you")
    expect(entry).to_have_attribute("data-status", "waiting")  # nothing was decided

    _as(page, "U0ALICE")
    expect(page.get_by_test_id("ephemeral").filter(has_text="not an approver")).to_have_count(0)
    page.screenshot(path=str(_screenshot_dir(tmp_path) / "playground.png"))
    _button(message, "hitl.reject").click()
    modal = page.get_by_test_id("modal")
    expect(modal).to_be_visible()
    expect(modal).to_contain_text("Reject request")
    page.get_by_test_id("modal-submit").click()  # no reason: this route requires one
    expect(page.get_by_test_id("error-reason")).to_contain_text("A reason is required")
    expect(entry).to_have_attribute("data-status", "waiting")
    modal.locator('[data-block-id="reason"] textarea').fill("Over the refund limit")
    page.get_by_test_id("modal-submit").click()
    expect(modal).to_have_count(0)

    expect(entry).to_have_attribute("data-status", "rejected")
    expect(entry.get_by_test_id("agent-reason")).to_contain_text("Over the refund limit")
    expect(entry.get_by_test_id("agent-latency")).to_contain_text("ms")
    expect(message).to_contain_text("Rejected")
    expect(message.locator("button[data-action-id]")).to_have_count(0)
    expect(page.get_by_test_id("explain")).to_contain_text("rejected")
    page.screenshot(path=str(_screenshot_dir(tmp_path) / "playground-decided.png"))


def test_edit_a_number_then_approve_and_the_agent_gets_the_edited_payload(
    page: Any, dev: DevProcess
) -> None:
    expect = playwright.expect
    request_id = _send(
        page,
        summary="Refund order B-7",
        action="refund_order",
        payload=json.dumps({"order": "B-7", "amount": 120}),
        risk="medium",
    )
    message = _message(page, request_id)
    _as(page, "U0BOB")
    _button(message, "hitl.edit").click()
    modal = page.get_by_test_id("modal")
    expect(modal).to_contain_text("Edit and approve")
    amount = modal.locator('[data-block-id="field:1"]').locator("input, textarea")
    expect(amount).to_have_value("120")
    amount.fill("95")
    page.get_by_test_id("modal-submit").click()
    expect(modal).to_have_count(0)

    entry = page.locator(f'[data-testid="agent-request"][data-request-id="{request_id}"]')
    expect(entry).to_have_attribute("data-status", "approved")
    payload = json.loads(entry.get_by_test_id("agent-payload").text_content() or "{}")
    assert payload == {"order": "B-7", "amount": 95}
    expect(message).to_contain_text("Approved")
    expect(message.locator("button[data-action-id]")).to_have_count(0)


def test_unread_marks_slash_command_and_home_tab(page: Any, dev: DevProcess) -> None:
    expect = playwright.expect
    _send(page, summary="Deploy api v2", action="deploy_api", payload='{"version": "2.0"}')
    expect(page.get_by_test_id("channel-C0DEPLOYS")).to_have_class(re.compile(r"\bactive\b"))
    page.get_by_test_id("channel-C0APPROVALS").click()
    # An agent's request posted to a channel the person is not looking at marks it unread.
    request = urllib.request.Request(
        dev.url + "/play/request",
        data=json.dumps({"summary": "Refund C-3", "action": "refund_order"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        request_id = json.loads(answer.read())["request_id"]
    expect(page.get_by_test_id("unread-C0FINANCE")).to_be_visible()
    expect(page.get_by_test_id("channel-C0APPROVALS")).to_have_class(re.compile(r"\bactive\b"))
    page.get_by_test_id("channel-C0FINANCE").click()
    expect(page.get_by_test_id("unread-C0FINANCE")).to_have_count(0)

    slash = page.get_by_test_id("slash")
    slash.fill("/hitl pending")
    slash.press("Enter")
    listing = page.get_by_test_id("ephemeral").filter(has_text="pending request")
    expect(listing).to_contain_text("Refund C-3")

    page.get_by_test_id("tab-home").click()
    home = page.get_by_test_id("home")
    expect(home).to_contain_text("Pending approvals")
    expect(home).to_contain_text("Deploy api v2")  # Alice may decide it: anyone in #deploys
    expect(home).to_contain_text("Refund C-3")
    assert request_id


def test_ask_a_question_and_answer_it_with_an_option_button(
    page: Any, dev: DevProcess, tmp_path: Path
) -> None:
    expect = playwright.expect
    form = page.get_by_test_id("question-form")
    form.locator("[name=question]").fill("Which region should I deploy to?")
    form.locator("[name=options]").fill("eu-west-1, us-east-1")
    page.get_by_test_id("send-question").click()
    entry = page.get_by_test_id("agent-request").first
    expect(entry).to_have_attribute("data-status", "waiting")
    request_id = entry.get_attribute("data-request-id")
    message = _message(page, str(request_id))
    expect(message).to_contain_text("Choose one of: eu-west-1, us-east-1.")
    _button(message, "hitl.answer.option:1").click()
    expect(entry).to_have_attribute("data-status", "answered")
    expect(entry.get_by_test_id("agent-answer")).to_have_text("answer: us-east-1")
    expect(message).to_contain_text("Answered")
    expect(message.locator("button[data-action-id]")).to_have_count(0)
    page.screenshot(path=str(_screenshot_dir(tmp_path) / "playground-question.png"))


def test_a_wire_transfer_needs_two_of_finance_and_the_thread_says_the_outcome(
    page: Any, dev: DevProcess, tmp_path: Path
) -> None:
    expect = playwright.expect
    request_id = _send(
        page,
        summary="Wire EUR 48,000 to ACME GmbH",
        action="wire_transfer",
        payload=json.dumps({"iban": "DE89 3704 0044 0532 0130 00", "eur": 48000}),
        risk="medium",
        requested_by="U0ALICE",
    )
    entry = page.locator(f'[data-testid="agent-request"][data-request-id="{request_id}"]')
    message = _message(page, request_id)
    expect(message).to_contain_text("Requested by")
    expect(message).to_contain_text("0 of 2 approvals")

    _as(page, "U0ALICE")  # the person the agent acts for
    _button(message, "hitl.approve").click()
    expect(page.get_by_test_id("ephemeral").filter(has_text="on your behalf")).to_be_visible()

    _as(page, "U0BOB")
    _button(message, "hitl.approve").click()
    expect(message).to_contain_text("1 of 2 approvals")
    expect(
        page.get_by_test_id("ephemeral").filter(has_text="Your approval is recorded")
    ).to_be_visible()
    expect(entry).to_have_attribute("data-status", "waiting")  # one vote decides nothing
    page.screenshot(path=str(_screenshot_dir(tmp_path) / "playground-quorum.png"))

    _as(page, "U0CAROL")
    _button(message, "hitl.approve").click()
    expect(entry).to_have_attribute("data-status", "approved")
    expect(message).to_contain_text("Approved")
    expect(message.locator("button[data-action-id]")).to_have_count(0)
    expect(message.get_by_test_id("reply").filter(has_text="Approved")).to_have_count(1)
