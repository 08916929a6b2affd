"""Screen sharing in a call (issue 19 §2).

Debian's Chromium, headless, with the flags the other browser tests already use
(`--use-fake-ui-for-media-stream --use-fake-device-for-media-stream`), answers
getDisplayMedia with a fake 1280x720 "screen" (measured: deviceId `screen:-3:0`,
displaySurface "monitor"); `--auto-select-desktop-capture-source` is not needed. The fake
camera is 640x480 (4:3); both are the same green pattern (measured), so the receiver's video
shape, 16:9 against 4:3, tells which one it is getting.

The screen travels on a second video m-line that the caller's offer carries from the start
(call.js), so the receiver gets the screen large and the sharer's camera small at once, and
sharing never renegotiates; `media_state` with `screen` tells the receiver to show it.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.browser.helpers import User, chromium, expect, unique

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

REMOTE_SIZE_JS = """() => { const v = document.getElementById('remote-video');
  return [v.videoWidth, v.videoHeight]; }"""

# The small picture of the sharer's camera beside the screen: its shape and decoded frames.
SHARER_CAMERA_JS = """() => { const v = document.getElementById('remote-camera');
  if (!v || v.hidden || !v.videoHeight) return null;
  return {ratio: v.videoWidth / v.videoHeight, frames: v.getVideoPlaybackQuality().totalVideoFrames}; }"""
BOX_JS = "(el) => { const r = el.getBoundingClientRect(); return r.width * r.height; }"
# The browser's own "Stop sharing" ends the track; a test cannot click that bar, so it
# fires the same `ended` event on the screen track being sent (labelled: a simulation).
BROWSER_STOPS_SHARING_JS = """() => {
  const sender = window.__chimecast.pc.getSenders().find((s) => s.track?.contentHint === 'detail');
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


async def camera_beside_the_screen(viewer: User) -> None:
    """`viewer` sees the sharer's camera (4:3) small beside the screen, its frames rising."""
    await viewer.page.wait_for_function(
        f"() => {{ const c = ({SHARER_CAMERA_JS})(); return c && Math.abs(c.ratio - 4 / 3) < 0.02; }}",
        timeout=20_000,
    )
    small = await viewer.by("remote-camera").evaluate(BOX_JS)
    stage = await viewer.page.locator("#screen-call .stage").evaluate(BOX_JS)
    assert 0 < small < 0.15 * stage, "the camera is the small one"
    first = (await viewer.page.evaluate(SHARER_CAMERA_JS))["frames"]
    await viewer.page.wait_for_function(
        f"(n) => ({SHARER_CAMERA_JS})()?.frames > n + 5", arg=first, timeout=10_000
    )


async def camera_only(viewer: User) -> None:
    """The screen is gone: the camera (4:3) is the big picture again, no small one."""
    await wait_remote_size(viewer, (640, 480))
    await expect(viewer.by("remote-camera")).to_be_hidden()


async def both_ways(alice: User, bob: User) -> None:
    for user in (alice, bob):
        first, second = await user.wait_media_flowing()
        print(user.name, "inbound", first, "->", second)


def test_shared_screen_comes_large_with_the_sharers_camera_small_and_stopping_returns_to_it(stack):
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
            await expect(bob.by("remote-camera")).to_be_hidden()
            offers = (await alice.page.evaluate("window.__chimecast.call"))["offers"]

            share = alice.by("share-screen")
            await share.click()
            await expect(share).to_have_text("Stop sharing")
            await expect(share).to_have_attribute("aria-pressed", "true")
            # The screen (16:9) large, not the 640x480 camera (4:3) ...
            print("Bob receives", await wait_remote_size(bob, (1280, 720)))
            # ... and her camera small beside it, on its own track, frames rising.
            await camera_beside_the_screen(bob)
            await expect(bob.by("announcer")).to_contain_text("is sharing a screen")
            await both_ways(alice, bob)
            assert (await alice.page.evaluate("window.__chimecast.call"))["offers"] == offers

            await share.click()  # "Stop sharing": back to the camera only
            await expect(share).to_have_text("Share screen")
            await camera_only(bob)

            await share.click()
            await wait_remote_size(bob, (1280, 720))
            await camera_beside_the_screen(bob)
            await alice.page.evaluate(BROWSER_STOPS_SHARING_JS)
            await expect(share).to_have_text("Share screen")
            await camera_only(bob)

            # The callee shares too: on the offer's second video m-line, no offer of its own.
            await bob.by("share-screen").click()
            await wait_remote_size(alice, (1280, 720))
            await camera_beside_the_screen(alice)
            await both_ways(alice, bob)
            await bob.by("share-screen").click()
            await camera_only(alice)
            await both_ways(alice, bob)
            assert (await alice.page.evaluate("window.__chimecast.call"))["offers"] == offers
            await alice.by("hang-up").click()

    asyncio.run(scenario())
