"""Two people, two browser contexts: a whole call through the web client and the real stack."""

from __future__ import annotations

import asyncio
import re

import pytest

from tests.browser.helpers import (
    User,
    chromium,
    expect,
    is_black,
    is_green,
    unique,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

CALL_RECORD_JS = """async (id) => {
  const token = sessionStorage.getItem("chimecast.token");
  const r = await fetch(`/calls/${id}`, {headers: {Authorization: `Bearer ${token}`}});
  return r.json();
}"""

# Resolves once the button has been clicked at `at` (ms since the epoch, this machine's clock).
CLICK_AT_JS = """(button, at) => new Promise((resolve) => {
  setTimeout(() => { button.click(); resolve(); }, Math.max(0, at - Date.now()));
})"""


async def energy_growth(user: User, seconds: float = 1.5) -> float:
    before = await user.audio_energy()
    await asyncio.sleep(seconds)
    return await user.audio_energy() - before


def csp_violations(user: User) -> list[str]:
    return [line for line in user.console if "Content Security Policy" in line]


def test_two_browsers_ring_answer_exchange_media_and_hang_up(stack):
    async def scenario() -> None:
        async with chromium() as browser:
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

            # The incoming screen takes the keyboard focus: Enter answers.
            await expect(bob.by("accept-call")).to_be_focused()
            await bob.page.keyboard.press("Enter")
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

            # Camera off: Alice's picture of Bob goes black; back on, it comes back.
            await bob.by("toggle-camera").click()
            await expect(bob.by("toggle-camera")).to_have_attribute("aria-pressed", "true")
            await alice.wait_colour(is_black)
            await bob.by("toggle-camera").click()
            await expect(bob.by("toggle-camera")).to_have_attribute("aria-pressed", "false")
            await alice.wait_colour(is_green)
            # Mute: Alice stops hearing Bob (packets still flow, but carry silence).
            hearing = await energy_growth(alice)
            await bob.by("toggle-mic").click()
            await expect(bob.by("toggle-mic")).to_have_attribute("aria-pressed", "true")
            await asyncio.sleep(0.5)  # audio already in flight
            muted = await energy_growth(alice)
            print(f"audio energy over 1.5 s: {hearing:.5f} unmuted, {muted:.5f} muted")
            assert muted < hearing / 20, (hearing, muted)
            await bob.by("toggle-mic").click()
            await expect(bob.by("toggle-mic")).to_have_text("Mute")

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

    asyncio.run(scenario())


def test_calling_each_other_at_once_merges_into_one_call_offered_by_its_caller(stack):
    async def scenario() -> None:
        async with chromium() as browser:
            alice = await User.open(browser, stack.web_url, unique("alice"))
            bob = await User.open(browser, stack.web_url, unique("bob"))
            await alice.register_and_login()
            await bob.register_and_login()
            buttons = []
            for user, other in ((alice, bob), (bob, alice)):
                await user.by("search-input").fill(other.name)
                await user.by("search-submit").click()
                row = user.page.locator(f'[data-username="{other.name}"]')
                buttons.append(row.get_by_test_id("call-button"))
                await expect(buttons[-1]).to_be_visible()

            # "At once" means before either ring arrives (a few ms). Playwright's click takes
            # several round trips per page, so under CI load the second one could land after
            # the first ring had already replaced the contacts screen. Instead both pages
            # click on a timer set for the same instant of the shared wall clock.
            at = await alice.page.evaluate("Date.now() + 300")
            await asyncio.gather(*(button.evaluate(CLICK_AT_JS, at) for button in buttons))
            for user in (alice, bob):
                await user.wait_in_call()
                await user.wait_media_flowing()
            call_id = await alice.current_call_id()
            assert call_id == await bob.current_call_id()
            record = await alice.page.evaluate(CALL_RECORD_JS, call_id)
            calls = {
                user.name: await user.page.evaluate("window.__chimecast.call")
                for user in (alice, bob)
            }
            offerer = calls[record["caller"]]
            answerer = calls[record["callee"]]
            assert offerer["role"] == "caller" and offerer["offers"] >= 1, calls
            assert answerer["role"] == "callee" and answerer["offers"] == 0, calls
            await bob.by("hang-up").click()
            for user in (alice, bob):
                item = await user.history_item(call_id)
                await expect(item).to_have_attribute("data-end-reason", "hangup")

    asyncio.run(scenario())
