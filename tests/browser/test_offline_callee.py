"""Calling someone who is not connected anywhere: told at once, and it is in both histories."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.browser.helpers import User, chromium, expect, unique
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]


def test_calling_an_offline_person_says_so_at_once_and_they_see_the_missed_call(stack):
    async def scenario() -> None:
        async with chromium() as browser:
            alice = await User.open(browser, stack.web_url, unique("alice"))
            carol = await User.open(browser, stack.web_url, unique("carol"))
            await alice.register_and_login("Alice Smith")
            await carol.register_and_login("Carol Jones")
            await carol.by("logout").click()  # her only device leaves
            await expect(carol.by("screen-auth")).to_be_visible()

            await alice.by("search-input").fill(carol.name)
            await alice.by("search-submit").click()
            row = alice.page.locator(f'[data-testid="search-result"][data-username="{carol.name}"]')
            started = time.monotonic()
            # Not User.call: the outgoing screen may be gone before it could be seen.
            await row.get_by_test_id("call-button").click()
            await expect(alice.by("notice")).to_have_text(
                "Carol Jones is offline and will see your missed call."
            )
            told_in = time.monotonic() - started
            await expect(alice.by("screen-home")).to_be_visible()
            assert told_in < 5, f"told after {told_in:.1f}s (the ring timeout is 45 s)"

            mine = alice.page.locator('[data-testid="history-item"][data-end-reason="offline"]')
            await expect(mine).to_have_count(1)
            await expect(mine).to_have_attribute("data-missed", "false")
            await expect(mine.get_by_test_id("history-label")).to_have_text("No answer (offline)")

            await carol.page.locator("#login-username").fill(carol.name)
            await carol.page.locator("#login-password").fill(PASSWORD)
            await carol.by("login-submit").click()
            await expect(carol.by("screen-home")).to_be_visible()
            theirs = carol.page.locator('[data-testid="history-item"][data-end-reason="offline"]')
            await expect(theirs).to_have_count(1)
            await expect(theirs).to_have_attribute("data-missed", "true")
            await expect(theirs.get_by_test_id("history-label")).to_have_text(
                "Missed call (you were offline)"
            )

    asyncio.run(scenario())
