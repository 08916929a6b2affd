"""What people notice: registering logs in, keyboard shortcuts, spoken call events, icons,
and a phone-sized (390x844) call and meeting where nothing is cut, covered or crammed.

Layout checks read element boxes (getBoundingClientRect): inside the viewport, no overlap
between boxes that must both be seen, no text wider than its box. Screenshots go to
test-artifacts/ for a person to look at.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.browser.helpers import PHONE, User, chromium, expect, unique
from tests.conftest import ARTIFACTS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

# Boxes of the elements matching `selector`: visible ones only, with whether text overflows.
BOXES_JS = """(selector) => [...document.querySelectorAll(selector)]
  .filter((e) => e.offsetParent !== null || getComputedStyle(e).position === "fixed")
  .map((e) => { const b = e.getBoundingClientRect();
    return {text: e.textContent.trim(), x: b.x, y: b.y, w: b.width, h: b.height,
            overflow: e.scrollWidth > e.clientWidth + 1}; })"""

# The element under the centre of an element is itself or inside it (nothing covers it).
ON_TOP_JS = """(e) => { const b = e.getBoundingClientRect();
  const hit = document.elementFromPoint(b.x + b.width / 2, b.y + b.height / 2);
  return !!hit && (hit === e || e.contains(hit)); }"""


def overlap(a: dict, b: dict) -> bool:
    return (
        a["x"] < b["x"] + b["w"] - 1
        and b["x"] < a["x"] + a["w"] - 1
        and a["y"] < b["y"] + b["h"] - 1
        and b["y"] < a["y"] + a["h"] - 1
    )


def inside(box: dict, viewport: dict = PHONE) -> bool:
    return (
        box["x"] >= 0
        and box["y"] >= 0
        and box["x"] + box["w"] <= viewport["width"] + 0.5
        and box["y"] + box["h"] <= viewport["height"] + 0.5
    )


async def boxes(user: User, selector: str) -> list[dict]:
    return await user.page.evaluate(BOXES_JS, selector)


async def assert_controls_fit(user: User, screen: str) -> None:
    """Every control of `screen` is inside the viewport, whole, and apart from the others."""
    # No tooltip (hover or keyboard focus) widening a button while it is measured.
    await user.page.mouse.move(1, 1)
    await user.page.evaluate("document.activeElement?.blur()")
    controls = await boxes(user, f"#screen-{screen} .controls button")
    assert controls, screen
    for box in controls:
        assert inside(box), box
        assert not box["overflow"], box
    for a in controls:
        for b in controls:
            assert a is b or not overlap(a, b), (a, b)


def test_register_logs_in_shortcuts_announcements_and_a_phone_call_that_fits(stack):
    async def scenario() -> None:
        async with chromium() as browser:
            alice = await User.open(browser, stack.web_url, unique("alexandra"), phone=True)
            bob = await User.open(browser, stack.web_url, unique("bob"))
            # The rule is on screen before any failure; registering lands on the home screen.
            await expect(alice.by("register-password-help")).to_contain_text("At least 8")
            await alice.register_and_login("Alexandra Featherstonehaugh")
            await bob.register_and_login("Bob Builder")
            assert await alice.page.locator("#login-password").input_value() == ""
            name = await boxes(alice, "#me-name")
            assert name and not name[0]["overflow"] and inside(name[0]), name
            await alice.screenshot("phone-home.png")

            await alice.call(bob.name)
            await bob.wait_ringing(alice.name)
            await expect(bob.by("announcer")).to_contain_text("Incoming call from")
            await bob.by("accept-call").click()
            await alice.wait_in_call()
            await bob.wait_in_call()
            await expect(alice.by("announcer")).to_contain_text("Connected to")

            # Buttons carry an icon and a tooltip naming their shortcut.
            mute = alice.by("toggle-mic")
            await expect(mute.locator("svg.icon")).to_have_count(1)
            await expect(mute).to_have_attribute("data-tooltip", "Mute (M)")
            await expect(mute).to_have_attribute("aria-keyshortcuts", "M")
            # "m" mutes (focus on the page, not in a field), and the other side sees it.
            await alice.page.locator("body").click(position={"x": 5, "y": 300})
            await alice.page.keyboard.press("m")
            await expect(mute).to_have_attribute("aria-pressed", "true")
            await expect(mute).to_have_attribute("data-tooltip", "Unmute (M)")
            await expect(bob.by("remote-muted")).to_be_visible()
            # In the chat's text field, "m" is a letter.
            await alice.page.keyboard.press("c")
            chat_input = alice.by("screen-call").get_by_test_id("chat-input")
            await expect(chat_input).to_be_focused()
            await alice.page.keyboard.press("m")
            await expect(chat_input).to_have_value("m")
            await expect(mute).to_have_attribute("aria-pressed", "true")
            await alice.page.keyboard.press("Escape")
            await alice.by("screen-call").get_by_test_id("chat-button").click()
            await alice.by("toggle-camera").focus()
            await alice.page.keyboard.press("v")
            await expect(alice.by("toggle-camera")).to_have_attribute("aria-pressed", "true")

            # The phone's call screen: the remote video fills its stage, nothing overflows.
            fit = await alice.page.evaluate(
                "getComputedStyle(document.getElementById('remote-video')).objectFit"
            )
            assert fit == "cover", fit
            assert await alice.fits_screen("remote-video") or inside(
                (await boxes(alice, "#remote-video"))[0]
            )
            await assert_controls_fit(alice, "call")
            await alice.screenshot("phone-call.png")

            await bob.by("hang-up").click()
            await expect(alice.by("announcer")).to_contain_text("ended")
            await expect(alice.by("screen-home")).to_be_visible()

            # History on the phone: name, what happened and when, each readable, apart.
            row = alice.by("history-item").first
            await expect(row).to_be_visible()
            await row.scroll_into_view_if_needed()  # below the recent contacts on a phone
            parts = await boxes(
                alice, '[data-testid="history-item"]:first-child :is(.name, .what, .when, .btn)'
            )
            assert len(parts) == 4, parts
            for part in parts:
                assert inside(part) and not part["overflow"], part
            for a in parts:
                for b in parts:
                    assert a is b or not overlap(a, b), (a, b)
            await alice.screenshot("phone-history.png")

    asyncio.run(scenario())


def test_phone_host_sees_every_remove_button_and_end_for_everyone_uncrammed(stack):
    async def scenario() -> None:
        async with chromium() as browser:
            host = await User.open(browser, stack.web_url, unique("host"), phone=True)
            guests = [await User.open(browser, stack.web_url, unique(p)) for p in ("ann", "ben")]
            await host.register_and_login("Hannah Host")
            await host.by("meeting-submit").click()
            await expect(host.by("screen-meeting")).to_be_visible()
            link = await host.by("meeting-invite-link").input_value()
            for guest in guests:
                await guest.register_and_login()
                await guest.page.goto(link)
                await expect(guest.by("screen-meeting")).to_be_visible()
            await expect(host.by("participant")).to_have_count(3)
            await expect(host.by("remove-participant")).to_have_count(2)
            # The list re-renders as each pair's call code arrives: wait for both first.
            await expect(host.by("pair-code")).to_have_count(2)
            await asyncio.sleep(0.5)

            await assert_controls_fit(host, "meeting")
            end = (await boxes(host, "#meeting-end"))[0]
            assert end["w"] >= 64 and not end["overflow"], end

            # Each "Remove", scrolled to, is on top: the control bar does not cover it.
            for i in range(2):
                button = host.by("remove-participant").nth(i)
                await button.scroll_into_view_if_needed()
                box = await button.bounding_box()
                bar = await host.page.locator("#screen-meeting .controls").bounding_box()
                assert box and bar, (box, bar)
                assert (
                    box["y"] + box["height"] <= bar["y"] + 1 or box["y"] >= bar["y"] + bar["height"]
                ), (box, bar)
                assert 0 <= box["y"] and box["y"] + box["height"] <= PHONE["height"], box
                assert await button.evaluate(ON_TOP_JS), f"Remove #{i} is covered"
            ARTIFACTS.mkdir(exist_ok=True)
            await host.screenshot("phone-meeting-host.png")
            await host.page.screenshot(
                path=str(ARTIFACTS / "phone-meeting-host-full.png"), full_page=True
            )

    asyncio.run(scenario())
