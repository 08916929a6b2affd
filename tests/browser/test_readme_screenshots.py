"""The README's screenshots: a call, its chat, a meeting, a shared screen, a phone.

Each is taken only once what it shows is real (media flowing by getStats, the screen's
16:9 shape decoded, the chat line received) and written to test-artifacts/readme/. With
CHIMECAST_UPDATE_SCREENSHOTS=1 they also replace the files in app/static/img/ that the
README shows:

    CHIMECAST_UPDATE_SCREENSHOTS=1 .venv/bin/python -m pytest tests/browser/test_readme_screenshots.py
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from tests.browser.helpers import User, chromium, expect, unique
from tests.browser.test_meeting import mesh_media
from tests.browser.test_meeting_screen_share import SCREEN, wait_shape
from tests.browser.test_meeting_social import join, start_meeting
from tests.conftest import ARTIFACTS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

IMAGES = Path(__file__).resolve().parents[2] / "app" / "static" / "img"
SHOTS = ARTIFACTS / "readme"


async def shoot(user: User, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await user.page.mouse.move(0, 0)  # no hover tooltip in the picture
    path = SHOTS / name
    await user.page.screenshot(path=str(path))
    return path


def publish(paths: list[Path]) -> None:
    if os.environ.get("CHIMECAST_UPDATE_SCREENSHOTS") == "1":
        for path in paths:
            shutil.copyfile(path, IMAGES / path.name)


def test_readme_screenshots_of_a_call_its_chat_a_meeting_a_shared_screen_and_a_phone(stack):
    async def scenario() -> list[Path]:
        shots = []
        async with chromium() as browser:
            alice = await User.open(browser, stack.web_url, unique("alice"))
            bob = await User.open(browser, stack.web_url, unique("bob"), phone=True)
            await alice.register_and_login("Alice Liddell")
            await bob.register_and_login("Bob Builder")
            await alice.call(bob.name)
            await bob.wait_ringing(alice.name)
            await bob.by("accept-call").click()
            for user in (alice, bob):
                await user.wait_in_call()
                await user.wait_media_flowing()
                quality = user.by("call-quality")
                await expect(quality).not_to_have_attribute("data-level", "unknown")
            shots.append(await shoot(alice, "screenshot-in-call.png"))
            shots.append(await shoot(bob, "screenshot-phone.png"))

            await bob.by("chat-button").click()
            await bob.by("chat-input").fill("Slides are up: https://example.com/deck")
            await bob.by("chat-send").click()
            await alice.by("chat-button").click()
            await expect(alice.by("chat-text")).to_have_text(
                "Slides are up: https://example.com/deck"
            )
            await alice.by("chat-input").fill("Thanks, looking now")
            await alice.by("chat-send").click()
            await expect(alice.by("chat-text")).to_have_count(2)
            shots.append(await shoot(alice, "screenshot-chat.png"))
            await alice.by("hang-up").click()
            await expect(alice.by("screen-home")).to_be_visible()

        async with chromium() as browser:
            host = await User.open(browser, stack.web_url, unique("host"))
            ann = await User.open(browser, stack.web_url, unique("ann"))
            ben = await User.open(browser, stack.web_url, unique("ben"))
            await host.register_and_login("Hannah Host")
            await ann.register_and_login("Ann Arbor")
            await ben.register_and_login("Ben Bones")
            await host.by("meeting-name").fill("Weekly sync")
            link = await start_meeting(host)
            await join(ann, link)
            await join(ben, link)
            await mesh_media(host, {ann.name, ben.name})
            shots.append(await shoot(host, "screenshot-meeting.png"))

            await ann.by("meeting-share").click()
            await wait_shape(host, ann.name, SCREEN)
            await mesh_media(host, {ann.name, ben.name})
            shots.append(await shoot(host, "screenshot-screen-share.png"))
        return shots

    publish(asyncio.run(scenario()))
