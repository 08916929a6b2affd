"""Screen sharing in a meeting: one sharer at a time, the host takes over, shown large.

The fake screen is 1280x720 (16:9) and the fake camera 640x480 (4:3) (tests/browser/
test_screen_share.py measured both), so the shape of the video a receiver decodes from a
participant tells whether it is that participant's screen or camera.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.browser.helpers import User, chromium, expect, unique
from tests.browser.test_meeting import mesh_media
from tests.browser.test_meeting_social import join, start_meeting, tile

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

VIDEO_SHAPE_JS = """(user) => {
  const v = document.querySelector(`[data-testid="meeting-tile"][data-username="${user}"] video`);
  return v && v.videoHeight ? v.videoWidth / v.videoHeight : 0;
}"""
# The small picture of the sharer's camera in their tile: its shape and decoded frames.
CAMERA_JS = """(user) => {
  const v = document.querySelector(
    `[data-testid="meeting-tile"][data-username="${user}"] [data-testid="sharer-camera"]`);
  if (!v || !v.videoHeight) return null;
  return {ratio: v.videoWidth / v.videoHeight, frames: v.getVideoPlaybackQuality().totalVideoFrames};
}"""
BOX_JS = "(el) => { const r = el.getBoundingClientRect(); return [r.width, r.height]; }"
SCREEN, CAMERA = 16 / 9, 4 / 3


async def wait_shape(viewer: User, user: str, ratio: float) -> None:
    """`viewer` decodes `user`'s video with this aspect ratio (screen or camera)."""
    await viewer.page.wait_for_function(
        f"(u) => Math.abs(({VIDEO_SHAPE_JS})(u) - {ratio}) < 0.02", arg=user, timeout=20_000
    )


async def camera_beside_the_screen(viewer: User, user: str) -> None:
    """`viewer` sees `user`'s camera small in their tile (4:3), its frames rising."""
    await viewer.page.wait_for_function(
        f"(u) => {{ const c = ({CAMERA_JS})(u); return c && Math.abs(c.ratio - {CAMERA}) < 0.02; }}",
        arg=user,
        timeout=20_000,
    )
    small = tile(viewer, user).get_by_test_id("sharer-camera")
    width, height = await small.evaluate(BOX_JS)
    whole_width, whole_height = await tile(viewer, user).evaluate(BOX_JS)
    assert width * height < 0.15 * whole_width * whole_height, "the camera is the small one"
    first = (await viewer.page.evaluate(CAMERA_JS, user))["frames"]
    await viewer.page.wait_for_function(
        f"([u, n]) => ({CAMERA_JS})(u).frames > n + 5", arg=[user, first], timeout=10_000
    )


async def area(viewer: User, user: str) -> float:
    width, height = await tile(viewer, user).evaluate(BOX_JS)
    return width * height


def test_one_sharer_at_a_time_the_host_takes_over_and_receivers_see_it_large(stack):
    async def scenario() -> None:
        async with chromium() as browser:
            host = await User.open(browser, stack.web_url, unique("host"))
            ann = await User.open(browser, stack.web_url, unique("ann"))
            ben = await User.open(browser, stack.web_url, unique("ben"))
            await host.register_and_login("Hannah Host")
            await ann.register_and_login("Ann Arbor")
            await ben.register_and_login("Ben Bones")
            link = await start_meeting(host)
            await join(ann, link)
            await join(ben, link)
            everyone = (host, ann, ben)
            for user in everyone:
                await expect(user.by("participant")).to_have_count(3)
            await mesh_media(ben, {host.name, ann.name})
            await wait_shape(ben, ann.name, CAMERA)

            # Ann shares: the others decode her screen, shown large with a badge.
            await ann.by("meeting-share").click()
            await expect(ann.by("meeting-share")).to_have_attribute("aria-pressed", "true")
            for viewer in (host, ben):
                await wait_shape(viewer, ann.name, SCREEN)
                shared = tile(viewer, ann.name)
                await expect(shared.get_by_test_id("sharing-badge")).to_have_text("Sharing screen")
                await expect(shared).to_have_class("tile is-sharing featured")
            assert await area(ben, ann.name) > 3 * await area(ben, host.name)
            # Her camera too, small in the corner of her screen: both at once, no renegotiation.
            await camera_beside_the_screen(ben, ann.name)
            await expect(ben.by("announcer")).to_have_text("Ann Arbor is sharing a screen.")

            # Ben may not share over her: told who shares, his camera stays his camera.
            await ben.by("meeting-share").click()
            await expect(ben.by("notice")).to_contain_text(f"{ann.name} is sharing a screen")
            await expect(ben.by("meeting-share")).to_have_attribute("aria-pressed", "false")
            await wait_shape(host, ben.name, CAMERA)

            # The host takes over: Ann is told and goes back to her camera.
            await host.by("meeting-share").click()
            await expect(host.by("meeting-share")).to_have_attribute("aria-pressed", "true")
            await expect(ann.by("notice")).to_have_text(
                "Hannah Host (the host) took over screen sharing."
            )
            await expect(ann.by("meeting-share")).to_have_attribute("aria-pressed", "false")
            await wait_shape(ben, host.name, SCREEN)
            await wait_shape(ben, ann.name, CAMERA)
            await expect(tile(ben, host.name)).to_have_class("tile is-host is-sharing featured")
            await expect(tile(ben, ann.name).get_by_test_id("sharing-badge")).to_have_count(0)
            await expect(tile(ben, ann.name).get_by_test_id("sharer-camera")).to_have_count(0)
            await camera_beside_the_screen(ben, host.name)
            # Frames keep flowing from both while the screen is shared.
            await mesh_media(ben, {host.name, ann.name})
            assert (await ben.page.evaluate("window.__chimecast.meeting.sharer")) == host.name

            # The host stops: nobody shares, the grid is back.
            await host.by("meeting-share").click()
            await wait_shape(ben, host.name, CAMERA)
            await expect(tile(ben, host.name)).not_to_have_class("tile is-host is-sharing featured")
            assert (await ben.page.evaluate("window.__chimecast.meeting.sharer")) is None

    asyncio.run(scenario())
