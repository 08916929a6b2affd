"""Chat and the others' muted / camera-off state in a real call between two Chromiums."""

from __future__ import annotations

import asyncio

import pytest

from tests.browser.helpers import User, chromium, expect, unique

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]


def test_chat_lines_arrive_as_text_and_muting_shows_on_the_other_side(stack):
    async def scenario() -> None:
        async with chromium() as browser:
            alice = await User.open(browser, stack.web_url, unique("alice"))
            bob = await User.open(browser, stack.web_url, unique("bob"))
            await alice.register_and_login("Alice Liddell")
            await bob.register_and_login("Bob Builder")
            await alice.call(bob.name)
            await bob.wait_ringing(alice.name)
            await bob.by("accept-call").click()
            await alice.wait_in_call()
            await bob.wait_in_call()
            await expect(bob.by("remote-muted")).to_be_hidden()

            # Bob's panel is closed: the line shows as unread, then with its sender.
            await alice.by("chat-button").click()
            text = "look <b>here</b> https://example.com/?a=1&b=2"
            await alice.by("chat-input").fill(text)
            await alice.by("chat-send").click()
            await expect(alice.by("chat-text")).to_have_text(text)
            await expect(bob.by("chat-unread")).to_have_text("1")
            await bob.by("chat-button").click()
            await expect(bob.by("chat-unread")).to_be_hidden()
            await expect(bob.by("chat-sender")).to_have_text("Alice Liddell")
            await expect(bob.by("chat-text")).to_have_text(text)
            assert await bob.by("chat-text").locator("b").count() == 0  # text, never HTML
            assert await bob.by("chat-log").locator("a").count() == 0

            await bob.by("chat-input").fill("x" * 1001)
            await bob.by("chat-send").click()
            await expect(bob.by("chat-error")).to_contain_text("at most 1000 characters")
            await asyncio.sleep(0.3)
            assert await alice.by("chat-text").count() == 1

            # Muting and the camera show on the other side, with Bob's initials.
            await bob.by("toggle-mic").click()
            await expect(alice.by("remote-muted")).to_be_visible()
            await bob.by("toggle-camera").click()
            await expect(alice.by("remote-camera-off")).to_be_visible()
            await expect(alice.by("remote-avatar")).to_have_text("BB")
            await bob.by("toggle-mic").click()
            await expect(alice.by("remote-muted")).to_be_hidden()
            await expect(alice.by("remote-camera-off")).to_be_visible()

    asyncio.run(scenario())
