"""Seeing the others in a meeting: tiles that fill a laptop window, who is speaking, the
active-speaker layout, and full screen / picture in picture for a remote video.

Speaking comes from the received audio's level (getStats `audioLevel`): Chromium's fake
microphone beeps, so a tile lights up, and stops once that person mutes (silence is sent).
Debian's headless Chromium has picture in picture (`document.pictureInPictureEnabled` is
true), so the button must put Ann's video there; a browser without it must show the button
named and disabled.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.browser.helpers import User, chromium, expect, unique

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

LAPTOP = {"width": 1280, "height": 800}

TILE_BOXES_JS = """() => [...document.querySelectorAll('[data-testid="meeting-tile"]')]
  .map((t) => { const b = t.getBoundingClientRect();
                return {user: t.dataset.username, x: b.x, y: b.y, w: b.width, h: b.height}; })"""


def tile(viewer: User, username: str):
    return viewer.page.locator(f'[data-testid="meeting-tile"][data-username="{username}"]')


def overlap(a: dict, b: dict) -> bool:
    return (
        a["x"] < b["x"] + b["w"] - 1
        and b["x"] < a["x"] + a["w"] - 1
        and a["y"] < b["y"] + b["h"] - 1
        and b["y"] < a["y"] + a["h"] - 1
    )


async def speaking_seen(viewer: User, username: str, seconds: float) -> bool:
    """Whether `username`'s tile shows them speaking at any moment within `seconds`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        if await tile(viewer, username).get_attribute("data-speaking") == "true":
            return True
        await asyncio.sleep(0.1)
    return False


def test_meeting_tiles_fill_the_window_show_the_speaker_and_go_full_screen(stack):
    async def scenario() -> None:
        async with chromium() as browser:
            host = await User.open(browser, stack.web_url, unique("host"))
            ann = await User.open(browser, stack.web_url, unique("ann"))
            ben = await User.open(browser, stack.web_url, unique("ben"))
            everyone = (host, ann, ben)
            for user in everyone:
                await user.page.set_viewport_size(LAPTOP)
                await user.register_and_login()
            await host.by("meeting-submit").click()
            await expect(host.by("screen-meeting")).to_be_visible()
            link = await host.by("meeting-invite-link").input_value()
            for user in (ann, ben):
                await user.page.goto(link)
                await expect(user.by("screen-meeting")).to_be_visible()
            for user in everyone:
                await expect(user.by("meeting-tile")).to_have_count(3)

            # Each page: three tiles, none overlapping, inside the window, each far larger
            # than the 245x185 of a fixed grid, together a large share of the window.
            for user in everyone:
                await user.page.wait_for_timeout(300)  # one ResizeObserver round
                boxes = await user.page.evaluate(TILE_BOXES_JS)
                print(user.name, boxes)
                assert len(boxes) == 3, boxes
                for box in boxes:
                    # The host's header (invite link, notices) takes 10-20 px more than a
                    # guest's: 455x256 to 464x269 were measured for the host's tiles.
                    assert box["w"] >= 400 and box["h"] >= 240, box
                    assert box["x"] >= 0 and box["x"] + box["w"] <= LAPTOP["width"], box
                    assert box["y"] >= 0 and box["y"] + box["h"] <= LAPTOP["height"], box
                assert not any(overlap(a, b) for a in boxes for b in boxes if a is not b), boxes
                share = sum(b["w"] * b["h"] for b in boxes) / (LAPTOP["width"] * LAPTOP["height"])
                assert share >= 0.30, (user.name, share)  # the fixed grid: 0.13

            # Speaking: Ann's beeping fake microphone lights her tile on the host's page,
            # and muting her stops it.
            assert await speaking_seen(host, ann.name, 15), "Ann never shown speaking"
            await ann.by("meeting-mic").click()
            await expect(tile(host, ann.name)).to_have_attribute("data-speaking", "false")
            assert not await speaking_seen(host, ann.name, 3), "a muted Ann still speaking"

            # Speaker view: one tile large over a strip of the others; then back.
            await host.by("meeting-layout").click()
            await expect(host.by("meeting-layout")).to_have_attribute("aria-pressed", "true")
            featured = host.page.locator('[data-testid="meeting-tile"].featured')
            await expect(featured).to_have_count(1)
            boxes = {b["user"]: b for b in await host.page.evaluate(TILE_BOXES_JS)}
            big = boxes[await featured.get_attribute("data-username")]
            small = [b for b in boxes.values() if b is not big]
            assert all(big["h"] >= 3 * b["h"] for b in small), boxes
            await host.by("meeting-layout").click()
            await expect(featured).to_have_count(0)

            # Full screen shows Ann's tile alone, and leaves it again.
            await tile(host, ann.name).hover()
            full = tile(host, ann.name).get_by_role("button", name=f"Full screen: {ann.name}")
            await full.click()
            await host.page.wait_for_function(
                f"() => document.fullscreenElement?.dataset.username === '{ann.name}'"
            )
            await host.page.get_by_role("button", name="Exit full screen").click()
            await host.page.wait_for_function("() => document.fullscreenElement === null")

            # Picture in picture: named; working where the browser has it, else disabled.
            pip = tile(host, ann.name).get_by_role("button", name=f"Picture in picture: {ann.name}")
            await expect(pip).to_have_count(1)
            if await host.page.evaluate("document.pictureInPictureEnabled"):
                await pip.click()
                await host.page.wait_for_function(
                    "() => document.pictureInPictureElement?.closest('[data-username]')"
                    f"?.dataset.username === '{ann.name}'"
                )
            else:
                await expect(pip).to_be_disabled()
                await expect(pip).to_have_attribute(
                    "title", "Picture in picture is not available in this browser."
                )
            errors = [line for user in everyone for line in user.console if "pageerror" in line]
            assert not errors, errors

    asyncio.run(scenario())
