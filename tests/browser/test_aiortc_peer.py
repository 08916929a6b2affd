"""A browser calls a Python bot (the packaged client plus an aiortc peer); media flows both ways."""

from __future__ import annotations

import asyncio

import pytest

from signaling.client.api import ApiClient
from signaling.client.media import MediaPeer, rgb_to_yuv, use_loopback_only
from signaling.client.socket import SignalingClient
from tests.browser.helpers import (
    User,
    chromium,
    close_to,
    expect,
    unique,
)
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

BOT_COLOUR = (220, 30, 30)  # red


class AnsweringBot:
    """Answers the first incoming call with aiortc media and counts what it receives."""

    def __init__(self, web_url: str, signaling_url: str, name: str) -> None:
        self.api = ApiClient(web_url)
        self.signaling_url = signaling_url
        self.name = name
        self.sig: SignalingClient | None = None
        self.peer: MediaPeer | None = None
        self.call_id: int | None = None

    async def start(self) -> None:
        await asyncio.to_thread(self.api.register_and_login, self.name, PASSWORD)
        self.sig = SignalingClient(self.signaling_url, self.api.token)
        await self.sig.connect()

    async def answer_next_call(self, timeout: float = 20) -> str:
        incoming = await self.sig.wait_for("incoming", timeout=timeout)
        self.call_id = incoming["call_id"]
        # Listen for the offer before accepting, so nothing is missed.
        self.peer = MediaPeer(self.sig, self.call_id, incoming["from"], (), colour=BOT_COLOUR)
        await self.peer.answer()
        ack = await self.sig.accept(self.call_id)
        assert ack["type"] == "ack", ack
        return incoming["from"]

    async def close(self) -> None:
        if self.peer is not None:
            await self.peer.close()
        if self.sig is not None:
            await self.sig.close()


def test_browser_calls_aiortc_bot_and_media_flows_both_ways(stack):
    use_loopback_only()  # aioice ignores loopback otherwise; Chromium has its loopback flag

    async def scenario() -> None:
        bot = AnsweringBot(stack.web_url, stack.signaling_url, unique("bot"))
        await bot.start()
        try:
            async with chromium() as browser:
                alice = await User.open(browser, stack.web_url, unique("alice"))
                await alice.register_and_login()
                answered = asyncio.create_task(bot.answer_next_call())
                await alice.call(bot.name)
                assert await answered == alice.name
                await alice.wait_in_call()
                await bot.peer.wait_connected()

                first, second = await alice.wait_media_flowing()
                assert second["video"] > first["video"] > 0 and second["audio"] > first["audio"] > 0
                counts = await bot.peer.wait_media(video=20, audio=20)
                later = await bot.peer.wait_media(
                    video=counts["video"] + 10, audio=counts["audio"] + 10
                )
                assert later["video"] > counts["video"] and later["audio"] > counts["audio"]

                # Each side sees the other's camera: red from the bot, not the bot's own red
                # coming back to it.
                async with asyncio.timeout(10):
                    while not close_to(await alice.colour("remote-video"), BOT_COLOUR, 45):
                        await asyncio.sleep(0.25)
                seen_by_bot = bot.peer.remote_colour()
                assert seen_by_bot is not None
                assert not close_to(seen_by_bot, rgb_to_yuv(BOT_COLOUR), 20), seen_by_bot

                await alice.by("hang-up").click()
                await expect(alice.by("screen-home")).to_be_visible()
                ended = await bot.sig.wait_for("ended", call_id=bot.call_id, timeout=10)
                assert ended["call"]["end_reason"] == "hangup"
        finally:
            await bot.close()

    asyncio.run(scenario())
