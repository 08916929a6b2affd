"""Three browsers in a meeting: chat, muted / camera-off tiles, raised hands and reactions.

Everything here travels over the signaling daemon (PROTOCOL.md "In-call messages"), so a
page sees a muted microphone or a raised hand as soon as the message arrives, before any
media stalls. The host mutes before the third person arrives: the newcomer must still see
it, which only works because every page repeats its state when someone joins.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.browser.helpers import User, chromium, expect, unique

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def tile(viewer: User, username: str):
    """`username`'s tile as `viewer` sees it."""
    return viewer.page.locator(f'[data-testid="meeting-tile"][data-username="{username}"]')


def in_meeting(user: User, test_id: str):
    """An element of the meeting screen (the call screen has its own chat panel)."""
    return user.by("screen-meeting").get_by_test_id(test_id)


def participant(viewer: User, username: str):
    return viewer.by("participant-list").locator(
        f'[data-testid="participant"][data-username="{username}"]'
    )


async def start_meeting(host: User) -> str:
    await host.by("meeting-submit").click()
    await expect(host.by("screen-meeting")).to_be_visible()
    return await host.by("meeting-invite-link").input_value()


async def join(user: User, link: str) -> None:
    await user.page.goto(link)
    await expect(user.by("screen-meeting")).to_be_visible()


def test_meeting_chat_hands_reactions_and_mute_state_reach_everyone(stack):
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
            await expect(tile(host, ann.name)).to_be_visible()

            # The host mutes before Ben is in: Ben learns it when he arrives.
            await host.by("meeting-mic").click()
            await expect(tile(ann, host.name).get_by_test_id("remote-muted")).to_be_visible()
            await join(ben, link)
            everyone = (host, ann, ben)
            for user in everyone:
                await expect(user.by("participant")).to_have_count(3)
            await expect(tile(ben, host.name).get_by_test_id("remote-muted")).to_be_visible()
            await expect(tile(ben, ann.name).get_by_test_id("remote-muted")).to_be_hidden()

            # Chat reaches both others, as text with the sender's display name.
            await in_meeting(host, "chat-button").click()
            await in_meeting(host, "chat-input").fill("Agenda: <i>demo</i> first")
            await in_meeting(host, "chat-send").click()
            for user in (ann, ben):
                await expect(in_meeting(user, "chat-unread")).to_have_text("1")
                await in_meeting(user, "chat-button").click()
                await expect(in_meeting(user, "chat-sender")).to_have_text("Hannah Host")
                await expect(in_meeting(user, "chat-text")).to_have_text(
                    "Agenda: <i>demo</i> first"
                )
            await in_meeting(ann, "chat-input").fill("ok")
            await in_meeting(ann, "chat-input").press("Enter")
            for user in (host, ben):
                await expect(in_meeting(user, "chat-text").last).to_have_text("ok")

            # Ben raises his hand: the others see it on his tile and in the list.
            await ben.by("meeting-hand").click()
            await expect(ben.by("meeting-hand")).to_have_attribute("aria-pressed", "true")
            await expect(ben.by("meeting-hand")).to_have_text("Lower hand")
            for user in (host, ann):
                await expect(tile(user, ben.name).get_by_test_id("remote-hand")).to_be_visible()
                await expect(
                    participant(user, ben.name).get_by_test_id("participant-hand")
                ).to_be_visible()
            await expect(participant(ann, ben.name).get_by_test_id("lower-hand")).to_have_count(0)
            # The host lowers it; everyone, Ben included, sees it go down.
            await participant(host, ben.name).get_by_test_id("lower-hand").click()
            await expect(ben.by("meeting-hand")).to_have_attribute("aria-pressed", "false")
            for user in (host, ann):
                await expect(tile(user, ben.name).get_by_test_id("remote-hand")).to_be_hidden()
                await expect(
                    participant(user, ben.name).get_by_test_id("participant-hand")
                ).to_have_count(0)
            await expect(ben.by("announcer")).to_contain_text("host lowered your hand")

            # A reaction shows on Ann's tile for the others (and her own).
            await ann.by("meeting-react").click()
            await ann.page.get_by_role("button", name="Celebrate").click()
            for user in everyone:
                bubble = tile(user, ann.name).get_by_test_id("tile-reaction")
                await expect(bubble).to_have_attribute("data-emoji", "🎉")
            await expect(host.by("announcer")).to_contain_text("Celebrate")

            # Ann mutes and turns her camera off: both others see it, with her initials.
            await ann.by("meeting-mic").click()
            await ann.by("meeting-camera").click()
            for user in (host, ben):
                ann_tile = tile(user, ann.name)
                await expect(ann_tile.get_by_test_id("remote-muted")).to_be_visible()
                await expect(ann_tile.get_by_test_id("remote-camera-off")).to_be_visible()
                await expect(ann_tile.get_by_test_id("remote-avatar")).to_have_text("AA")
            await ann.by("meeting-mic").click()
            for user in (host, ben):
                await expect(tile(user, ann.name).get_by_test_id("remote-muted")).to_be_hidden()
            await host.by("meeting-mic").click()
            for user in (ann, ben):
                await expect(tile(user, host.name).get_by_test_id("remote-muted")).to_be_hidden()
            errors = [line for user in everyone for line in user.console if "pageerror" in line]
            assert not errors, errors

    asyncio.run(scenario())
