"""Alice really sees Bob's camera: Bob's Chromium films a solid colour, Alice checks pixels."""

from __future__ import annotations

import asyncio

import pytest

from tests.browser.helpers import (
    User,
    async_playwright,
    close_to,
    is_green,
    launch,
    save_failure_artifacts,
    unique,
    write_y4m,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

BOB_COLOUR = (40, 70, 230)  # blue; Chromium's own fake camera is mostly green
TOLERANCE = 40  # codec, colour-space and scaling error per channel


def test_each_person_sees_the_other_persons_camera(stack, tmp_path):
    bob_camera = write_y4m(tmp_path / "bob.y4m", BOB_COLOUR)

    async def scenario() -> None:
        async with async_playwright() as pw:
            # One browser process per person: the fake camera is a process-wide flag.
            alice_browser = await launch(pw)
            bob_browser = await launch(pw, fake_video=bob_camera)
            try:
                alice = await User.open(alice_browser, stack.web_url, unique("alice"))
                bob = await User.open(bob_browser, stack.web_url, unique("bob"))
                await alice.register_and_login()
                await bob.register_and_login()
                await alice.call(bob.name)
                await bob.wait_ringing(alice.name)
                await bob.by("accept-call").click()
                await alice.wait_in_call()
                await bob.wait_in_call()
                await alice.wait_media_flowing()
                await bob.wait_media_flowing()

                # Bob's own preview shows his file camera: the fixture works.
                bob_local = await bob.colour("local-video")
                assert close_to(bob_local, BOB_COLOUR, TOLERANCE), bob_local

                # Alice's remote video is Bob's colour, and her own camera is not.
                async with asyncio.timeout(10):
                    while not close_to(
                        seen := await alice.colour("remote-video"), BOB_COLOUR, TOLERANCE
                    ):
                        await asyncio.sleep(0.25)
                alice_local = await alice.colour("local-video")
                assert is_green(alice_local), alice_local
                # And Bob sees Alice's camera (the default fake one), not his own colour.
                bob_remote = await bob.colour("remote-video")
                assert not close_to(bob_remote, BOB_COLOUR, TOLERANCE), bob_remote
                assert is_green(bob_remote), bob_remote
                await alice.screenshot("identity-alice-sees-bob.png")
                print(f"alice sees {seen}, bob films {BOB_COLOUR}, alice films {alice_local}")
            except BaseException:
                await save_failure_artifacts()
                raise
            finally:
                await asyncio.gather(alice_browser.close(), bob_browser.close())

    asyncio.run(scenario())
