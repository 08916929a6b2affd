"""The home page: calls and meetings in one history, by display name, and recent contacts
one click from a call, with presence (issue 19 §5)."""

from __future__ import annotations

import asyncio

import pytest

from tests.browser.helpers import User, chromium, expect, unique
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def contact(user: User, other: User):
    return user.page.locator(f'[data-testid="contact"][data-username="{other.name}"]')


async def background(locator) -> str:
    return await locator.evaluate("(el) => getComputedStyle(el).backgroundColor")


def test_history_and_recent_contacts_by_display_name_with_presence(stack):
    async def scenario() -> None:
        async with chromium() as browser:
            alice = await User.open(browser, stack.web_url, unique("alice"))
            bob = await User.open(browser, stack.web_url, unique("bob"))
            await alice.register_and_login("Alice Smith")
            await bob.register_and_login("Bob Jones")
            await expect(alice.by("contacts-empty")).to_be_visible()

            # A real call first: media flows both ways, then Alice hangs up.
            await alice.call(bob.name)
            await bob.wait_ringing(alice.name)
            await bob.by("accept-call").click()
            for user in (alice, bob):
                await user.wait_in_call()
                await user.wait_media_flowing()
            call_id = await alice.current_call_id()
            await alice.by("hang-up").click()
            for user in (alice, bob):
                await expect(user.by("screen-home")).to_be_visible()
            row = await alice.history_item(call_id)
            await expect(row.get_by_test_id("history-name")).to_have_text("Bob Jones")
            row = await bob.history_item(call_id)
            await expect(row.get_by_test_id("history-name")).to_have_text("Alice Smith")
            await expect(row.get_by_role("button", name="Call Alice Smith back")).to_be_visible()

            # Bob is a recent contact of Alice's, online, a click from a call.
            bobs = contact(alice, bob)
            await expect(bobs).to_have_count(1)
            await expect(bobs).to_contain_text("Bob Jones")
            await expect(bobs.get_by_test_id("contact-presence")).to_have_text("Online")

            # A meeting shows in the same history, newest first.
            await alice.by("meeting-name").fill("Weekly sync")
            await alice.by("meeting-submit").click()
            await expect(alice.by("screen-meeting")).to_be_visible()
            await alice.by("meeting-leave").click()
            await expect(alice.by("screen-home")).to_be_visible()
            first = alice.page.locator("#history-list > li").first
            await expect(first).to_have_attribute("data-testid", "history-meeting")
            await expect(first.get_by_test_id("history-name")).to_have_text("Weekly sync")
            await expect(first.get_by_test_id("history-label")).to_contain_text("Meeting you host")

            # Bob leaves: Alice's page hears it at once (contact_presence), no refresh.
            await bob.by("logout").click()
            await expect(bob.by("screen-auth")).to_be_visible()
            await expect(bobs.get_by_test_id("contact-presence")).to_have_text(
                "Offline", timeout=5_000
            )

            # One click calls him from the contacts, keyboard included; he is offline.
            await bobs.get_by_role("button", name="Call Bob Jones").focus()
            await alice.page.keyboard.press("Enter")
            await expect(alice.by("notice")).to_have_text(
                "Bob Jones is offline and will see your missed call."
            )
            mine = alice.page.locator('[data-testid="history-item"][data-end-reason="offline"]')
            await expect(mine.get_by_test_id("history-label")).to_have_text("No answer (offline)")
            await expect(mine).to_have_class("list-item history-item unanswered")

            await bob.page.locator("#login-username").fill(bob.name)
            await bob.page.locator("#login-password").fill(PASSWORD)
            await bob.by("login-submit").click()
            theirs = bob.page.locator('[data-testid="history-item"][data-end-reason="offline"]')
            await expect(theirs.get_by_test_id("history-name")).to_have_text("Alice Smith")
            await expect(theirs.get_by_test_id("history-label")).to_have_text(
                "Missed call (you were offline)"
            )
            await expect(theirs).to_have_class("list-item history-item missed")
            # Told apart by words and by look: his missed row is highlighted, her own
            # unanswered call is not.
            assert await background(theirs) != await background(bob.by("history-item").last)
            assert await background(mine) == await background(alice.by("history-item").last)
            await expect(contact(bob, alice).get_by_test_id("contact-presence")).to_have_text(
                "Online"
            )
            # And Alice sees him come back without asking.
            await expect(bobs.get_by_test_id("contact-presence")).to_have_text(
                "Online", timeout=5_000
            )

    asyncio.run(scenario())
