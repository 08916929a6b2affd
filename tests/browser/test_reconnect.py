"""The signaling daemon restarts mid-call: both pages show the banner, reconnect on their own,
keep the call (media is peer-to-peer), restart ICE, and can still hang up."""

from __future__ import annotations

import asyncio

import pytest

from app.devstack import stop_process
from tests.browser.helpers import (
    User,
    chromium,
    expect,
    unique,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]


def test_daemon_restart_mid_call_shows_banner_reconnects_and_keeps_the_call(stack):
    async def scenario() -> None:
        async with chromium() as browser:
            alice = await User.open(browser, stack.web_url, unique("alice"))
            bob = await User.open(browser, stack.web_url, unique("bob"))
            await alice.register_and_login()
            await bob.register_and_login()
            await alice.call(bob.name)
            await bob.wait_ringing(alice.name)
            await bob.by("accept-call").click()
            for user in (alice, bob):
                await user.wait_in_call()
                await user.wait_media_flowing()
            call_id = await alice.current_call_id()
            offers_before = (await alice.page.evaluate("() => window.__chimecast.call"))["offers"]

            await asyncio.to_thread(stop_process, stack.processes["signaling"])
            for user in (alice, bob):
                await expect(user.by("connection-banner")).to_be_visible()
                await expect(user.by("connection-banner")).to_contain_text("Reconnecting")
                # Media does not go through the daemon: it keeps flowing meanwhile.
                await user.wait_media_flowing()
                await expect(user.by("screen-call")).to_be_visible()

            await asyncio.to_thread(stack.start_signaling)
            for user in (alice, bob):
                await expect(user.by("connection-banner")).to_be_hidden(timeout=20_000)
                await user.wait_signaling()

            # The caller offered again with an ICE restart, and the call survived it.
            await alice.page.wait_for_function(
                "(n) => window.__chimecast.call?.restarts >= 1"
                " && window.__chimecast.call.offers > n",
                arg=offers_before,
            )
            for user in (alice, bob):
                await user.wait_in_call()
                await user.wait_media_flowing()
                assert (await user.page.evaluate("() => window.__chimecast.call"))["id"] == call_id

            # The new daemon carries the hang-up to the other side.
            await bob.by("hang-up").click()
            for user in (alice, bob):
                await expect(user.by("screen-home")).to_be_visible()
                item = await user.history_item(call_id)
                await expect(item).to_have_attribute("data-end-reason", "hangup")

    asyncio.run(scenario())
