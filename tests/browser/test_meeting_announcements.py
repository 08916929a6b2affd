"""Screen readers hear who comes and goes in a meeting (the page's aria-live region)."""

from __future__ import annotations

import asyncio

import pytest

from tests.browser.helpers import User, chromium, expect, unique
from tests.browser.test_meeting import mesh_media
from tests.browser.test_meeting_social import join, start_meeting

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def test_joining_and_leaving_are_announced_by_display_name(stack):
    async def scenario() -> None:
        async with chromium() as browser:
            host = await User.open(browser, stack.web_url, unique("host"))
            ann = await User.open(browser, stack.web_url, unique("ann"))
            await host.register_and_login("Hannah Host")
            await ann.register_and_login("Ann Arbor")
            link = await start_meeting(host)
            announcer = host.by("announcer")
            await expect(announcer).to_have_attribute("aria-live", "polite")

            await join(ann, link)
            await expect(announcer).to_have_text("Ann Arbor joined the meeting.")
            await mesh_media(host, {ann.name})  # she is really there: her media arrives

            await ann.by("meeting-leave").click()
            await expect(announcer).to_have_text("Ann Arbor left the meeting.")
            await expect(host.by("participant")).to_have_count(1)

    asyncio.run(scenario())
