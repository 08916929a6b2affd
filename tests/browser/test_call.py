"""Two people, two browser contexts: a whole call through the web client and the real stack."""

from __future__ import annotations

import asyncio
import re

import pytest
from playwright.async_api import async_playwright, expect

from tests.browser.helpers import User, launch, unique

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

CALL_RECORD_JS = """async (id) => {
  const token = sessionStorage.getItem("chimecast.token");
  const r = await fetch(`/calls/${id}`, {headers: {Authorization: `Bearer ${token}`}});
  return r.json();
}"""


def csp_violations(user: User) -> list[str]:
    return [line for line in user.console if "Content Security Policy" in line]


def test_two_browsers_ring_answer_exchange_media_and_hang_up(stack):
    async def scenario() -> None:
        async with async_playwright() as pw:
            browser = await launch(pw)
            try:
                alice = await User.open(browser, stack.web_url, unique("alice"))
                bob = await User.open(browser, stack.web_url, unique("bob"), phone=True)
                await alice.register_and_login("Alice Liddell")
                await bob.register_and_login("Bob Builder")

                await alice.call(bob.name)
                await expect(alice.by("outgoing-name")).to_have_text("Bob Builder")
                await bob.wait_ringing(alice.name)
                await expect(bob.by("incoming-name")).to_have_text("Alice Liddell")
                ringtone = await bob.page.evaluate("window.__chimecast.ringtone")
                assert ringtone["playing"] and ringtone["context"] == "running", ringtone
                await expect(alice.by("outgoing-status")).to_have_text("Ringing…")

                await bob.by("accept-call").click()
                await alice.wait_in_call()
                await bob.wait_in_call()
                assert (await bob.page.evaluate("window.__chimecast.ringtone"))["playing"] is False

                for user in (alice, bob):
                    first, second = await user.wait_media_flowing()
                    assert second["video"] > first["video"] > 0, (user.name, first, second)
                    assert second["audio"] > first["audio"] > 0, (user.name, first, second)
                    assert await user.video_playing("remote-video"), user.name
                    assert await user.video_playing("local-video"), user.name
                    await expect(user.by("call-quality")).to_have_attribute("data-path", "direct")
                    await expect(user.by("call-quality")).to_contain_text(" ms")
                    # Bitrates need two readings a second apart; then they show, e.g. "↓ 1.2 Mbps".
                    await expect(user.by("call-quality")).to_contain_text(
                        re.compile(r"↓ [\d.]+ [kM]bps")
                    )
                # Bob is on a phone-sized screen: the call and its controls fit without scrolling.
                assert await bob.fits_screen("screen-call")
                assert await bob.fits_screen("hang-up")
                await expect(alice.by("call-peer")).to_have_text("Bob Builder")
                await expect(bob.by("call-peer")).to_have_text("Alice Liddell")
                await alice.screenshot("in-call-alice.png")
                await bob.screenshot("in-call-bob.png")

                call_id = await alice.current_call_id()
                assert call_id == await bob.current_call_id()
                # Each side reported how the call connected (PROTOCOL.md `stats`).
                await alice.page.wait_for_function(
                    "async (id) => { const t = sessionStorage.getItem('chimecast.token');"
                    " const r = await fetch(`/calls/${id}`, {headers: {Authorization: `Bearer ${t}`}});"
                    " const c = await r.json(); return JSON.stringify(c.stats || {}).includes('direct'); }",
                    arg=call_id,
                )
                await expect(alice.by("call-timer")).not_to_have_text("0:00")  # >= 1 s in

                await alice.by("hang-up").click()
                for user in (alice, bob):
                    await expect(user.by("screen-home")).to_be_visible()
                    assert await user.page.evaluate("window.__chimecast.pc") is None
                    assert await user.page.evaluate("window.__chimecast.call") is None
                record = await alice.page.evaluate(CALL_RECORD_JS, call_id)
                assert record["state"] == "ended" and record["end_reason"] == "hangup", record
                assert record["duration_seconds"] >= 1, record

                for user, direction in ((alice, "outgoing"), (bob, "incoming")):
                    item = await user.history_item(call_id)
                    await expect(item).to_have_attribute("data-direction", direction)
                    await expect(item).to_have_attribute("data-end-reason", "hangup")
                    await expect(item).to_have_attribute("data-missed", "false")
                    await expect(item.get_by_test_id("history-label")).to_contain_text(
                        f"· 0:{int(record['duration_seconds']):02d}"
                    )
                    assert not csp_violations(user), csp_violations(user)
            finally:
                await browser.close()

    asyncio.run(scenario())
