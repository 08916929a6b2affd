"""Devices before and during a call (issue 19 §1): the device panel, remembered choices,
switching the microphone mid-call without renegotiating, and a denied camera."""

from __future__ import annotations

import asyncio

import pytest

from tests.browser.helpers import User, chromium, expect, is_black, is_green, unique

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

# Test-only: this page's browser refuses the camera, as if the person had clicked "Block".
DENY_CAMERA_JS = """(() => {
  const devices = navigator.mediaDevices;
  const original = devices.getUserMedia.bind(devices);
  devices.getUserMedia = (constraints) => constraints && constraints.video
    ? Promise.reject(new DOMException("Permission denied", "NotAllowedError"))
    : original(constraints);
})();"""

SENDER_LABELS_JS = """() => Object.fromEntries(window.__chimecast.pc.getSenders()
  .filter((s) => s.track).map((s) => [s.track.kind, s.track.label]))"""

REMOTE_SDP_JS = "() => window.__chimecast.pc.remoteDescription.sdp"

METER_MAX_JS = """() => new Promise((resolve) => {
  let best = 0;
  const started = performance.now();
  const poll = () => {
    best = Math.max(best, document.getElementById("mic-level").value);
    if (performance.now() - started > 3000) resolve(best); else setTimeout(poll, 50);
  };
  poll();
})"""


async def grows(user: User, key: str, seconds: float = 10) -> tuple[int, int]:
    """Two readings of an inbound counter ("video" or "audio"), the second larger."""
    first = await user.inbound()
    async with asyncio.timeout(seconds):
        while True:
            await asyncio.sleep(0.3)
            now = await user.inbound()
            if now[key] > first[key]:
                return first[key], now[key]


def test_device_panel_remembers_choices_and_a_new_microphone_needs_no_renegotiation(stack):
    async def scenario() -> None:
        async with chromium() as browser:
            alice = await User.open(browser, stack.web_url, unique("alice"))
            bob = await User.open(browser, stack.web_url, unique("bob"))
            await alice.register_and_login()
            await bob.register_and_login()

            # Settings: a live preview, the three pickers, a moving level meter.
            await bob.by("settings-button").click()
            await expect(bob.by("screen-settings")).to_be_visible()
            await bob.page.wait_for_function(
                "() => { const v = document.getElementById('device-preview');"
                " return v.videoWidth > 0 && !v.paused; }"
            )
            for name in ("Camera", "Microphone", "Speaker"):
                await expect(bob.page.get_by_label(name, exact=True)).to_be_enabled()
            microphones = bob.page.get_by_label("Microphone", exact=True).locator("option")
            assert await microphones.count() >= 2
            level = await bob.page.evaluate(METER_MAX_JS)
            print(f"microphone meter peak over 3 s: {level:.3f}")
            assert level > 0.01, level
            await bob.page.get_by_label("Join with camera off").check()
            await bob.by("settings-done").click()
            await expect(bob.by("screen-home")).to_be_visible()
            # Remembered by the browser, not the page: a reload still has it.
            await bob.page.reload()
            await bob.wait_signaling()

            # Before answering: the same panel, with the choice kept; he joins with no picture.
            await alice.call(bob.name)
            await bob.wait_ringing(alice.name)
            await expect(
                bob.page.locator("#incoming-devices").get_by_test_id("device-panel")
            ).to_be_visible()
            await expect(bob.page.get_by_label("Join with camera off")).to_be_checked()
            await bob.by("accept-call").click()
            await alice.wait_in_call()
            await bob.wait_in_call()
            await expect(bob.by("toggle-camera")).to_have_attribute("aria-pressed", "true")
            await alice.wait_colour(is_black)
            await bob.by("toggle-camera").click()
            await alice.wait_colour(is_green)
            await alice.wait_media_flowing()

            # Mid-call, Alice picks another microphone: same sender, no new offer.
            offers = (await alice.page.evaluate("window.__chimecast.call"))["offers"]
            bob_sdp = await bob.page.evaluate(REMOTE_SDP_JS)
            before = await alice.page.evaluate(SENDER_LABELS_JS)
            await alice.by("call-devices-button").click()
            await expect(alice.by("call-devices").get_by_test_id("device-panel")).to_be_visible()
            select = alice.page.get_by_label("Microphone", exact=True)
            await select.select_option(label="Fake Audio Input 2")
            await alice.page.wait_for_function(
                f"() => ({SENDER_LABELS_JS})().audio === 'Fake Audio Input 2'"
            )
            after = await alice.page.evaluate(SENDER_LABELS_JS)
            print("Alice's senders before/after:", before, after)
            assert after["audio"] != before["audio"] and after["video"] == before["video"]
            for key in ("audio", "video"):
                print(f"Bob's inbound {key} keeps rising:", await grows(bob, key))
            assert (await alice.page.evaluate("window.__chimecast.call"))["offers"] == offers
            assert await bob.page.evaluate(REMOTE_SDP_JS) == bob_sdp, "renegotiated"
            await alice.by("hang-up").click()
            await expect(bob.by("screen-home")).to_be_visible()

    asyncio.run(scenario())


def test_a_blocked_camera_is_explained_and_the_call_goes_on_with_sound_only(stack):
    async def scenario() -> None:
        async with chromium() as browser:
            alice = await User.open(browser, stack.web_url, unique("alice"))
            bob = await User.open(browser, stack.web_url, unique("bob"))
            await bob.page.context.add_init_script(DENY_CAMERA_JS)
            await bob.page.reload()
            await alice.register_and_login()
            await bob.register_and_login()

            await alice.call(bob.name)
            await bob.wait_ringing(alice.name)
            message = bob.by("device-message")
            await expect(message).to_contain_text("Camera blocked")
            await expect(message).to_contain_text("sound only")
            await bob.by("accept-call").click()
            await alice.wait_in_call()
            await bob.wait_in_call()
            await expect(bob.by("notice")).to_contain_text("Camera blocked")
            await expect(bob.by("toggle-camera")).to_be_disabled()
            await expect(bob.by("toggle-mic")).to_be_enabled()
            # Bob sees and hears Alice; Alice hears Bob and gets no picture from him.
            await bob.wait_media_flowing()
            print("Alice hears Bob:", await grows(alice, "audio"))
            assert (await alice.inbound())["video"] == 0
            await alice.by("hang-up").click()

    asyncio.run(scenario())
