"""Screen sharing in a call (issue 19 §2).

Debian's Chromium, headless, with the flags the other browser tests already use
(`--use-fake-ui-for-media-stream --use-fake-device-for-media-stream`), answers
getDisplayMedia with a fake 1280x720 "screen" (measured: deviceId `screen:-3:0`,
displaySurface "monitor"); `--auto-select-desktop-capture-source` is not needed. The fake
camera is 640x480 (4:3); both are the same green pattern (measured), so the receiver's video
shape, 16:9 against 4:3, tells which one it is getting.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.browser.helpers import User, chromium, expect, unique

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

REMOTE_SIZE_JS = """() => { const v = document.getElementById('remote-video');
  return [v.videoWidth, v.videoHeight]; }"""

# The browser's own "Stop sharing" ends the track; a test cannot click that bar, so it
# fires the same `ended` event on the track being sent (labelled: a simulation).
BROWSER_STOPS_SHARING_JS = """() => {
  const sender = window.__chimecast.pc.getSenders().find((s) => s.track?.kind === 'video');
  sender.track.dispatchEvent(new Event('ended'));
}"""


async def wait_remote_size(user: User, size: tuple[int, int]) -> list[int]:
    """Wait for the remote video's shape: the aspect ratio of `size` (the sender's encoder
    may scale the resolution down while its bandwidth estimate ramps up)."""
    ratio = size[0] / size[1]
    await user.page.wait_for_function(
        f"() => {{ const [w, h] = ({REMOTE_SIZE_JS})(); return h > 0 && Math.abs(w / h - {ratio}) < 0.02; }}"
    )
    return await user.page.evaluate(REMOTE_SIZE_JS)


async def both_ways(alice: User, bob: User) -> None:
    for user in (alice, bob):
        first, second = await user.wait_media_flowing()
        print(user.name, "inbound", first, "->", second)


def test_shared_screen_replaces_the_camera_for_the_receiver_and_stopping_returns_to_it(stack):
    async def scenario() -> None:
        async with chromium() as browser:
            alice = await User.open(browser, stack.web_url, unique("alice"))
            bob = await User.open(browser, stack.web_url, unique("bob"))
            await alice.register_and_login()
            await bob.register_and_login()
            await alice.call(bob.name)
            await bob.wait_ringing(alice.name)
            await bob.by("accept-call").click()
            await alice.wait_in_call()
            await bob.wait_in_call()
            await both_ways(alice, bob)
            await wait_remote_size(bob, (640, 480))
            offers = (await alice.page.evaluate("window.__chimecast.call"))["offers"]

            share = alice.by("share-screen")
            await share.click()
            await expect(share).to_have_text("Stop sharing")
            await expect(share).to_have_attribute("aria-pressed", "true")
            # The screen (16:9), not the 640x480 camera (4:3).
            print("Bob receives", await wait_remote_size(bob, (1280, 720)))
            await both_ways(alice, bob)
            assert (await alice.page.evaluate("window.__chimecast.call"))["offers"] == offers

            await share.click()  # "Stop sharing": back to the camera
            await expect(share).to_have_text("Share screen")
            await wait_remote_size(bob, (640, 480))

            await share.click()
            await wait_remote_size(bob, (1280, 720))
            await alice.page.evaluate(BROWSER_STOPS_SHARING_JS)
            await expect(share).to_have_text("Share screen")
            await wait_remote_size(bob, (640, 480))
            await both_ways(alice, bob)
            assert (await alice.page.evaluate("window.__chimecast.call"))["offers"] == offers
            await alice.by("hang-up").click()

    asyncio.run(scenario())
