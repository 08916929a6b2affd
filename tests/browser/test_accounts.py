"""Signing up and in through the page: server errors shown, names never parsed as HTML,
the token kept out of URLs and cookies, a strict CSP, and a usable phone-sized layout."""

from __future__ import annotations

import asyncio

import pytest

from signaling.client.api import ApiClient
from tests.browser.helpers import (
    User,
    chromium,
    expect,
    unique,
)
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

HOSTILE_NAME = '<img src=x onerror="window.__pwned=1">Eve'


def test_server_errors_are_shown_and_names_are_text_not_html(stack):
    async def scenario() -> None:
        async with chromium() as browser:
            eve = await User.open(browser, stack.web_url, unique("eve"))
            requests: list[str] = []
            eve.page.on("request", lambda r: requests.append(r.url))
            page = eve.page

            # The rule is on screen before anyone gets it wrong.
            await expect(eve.by("register-password-help")).to_contain_text("At least 8 characters")
            await expect(page.locator("#register-password")).to_have_attribute(
                "aria-describedby", "register-password-help"
            )
            await page.locator("#register-username").fill(eve.name)
            await page.locator("#register-password").fill("short")
            await eve.by("register-submit").click()
            await expect(eve.by("register-error")).to_contain_text("at least 8 characters")

            await page.locator("#login-username").fill(eve.name)
            await page.locator("#login-password").fill(PASSWORD)
            await eve.by("login-submit").click()
            await expect(eve.by("login-error")).to_have_text("Wrong username or password.")

            await eve.register_and_login(HOSTILE_NAME)
            await expect(eve.by("me-name")).to_contain_text(HOSTILE_NAME)
            await eve.by("search-input").fill(eve.name)
            await eve.by("search-submit").click()
            await expect(eve.by("search-result")).to_contain_text(HOSTILE_NAME)
            assert await page.evaluate("window.__pwned") is None
            assert await page.locator("img[src=x]").count() == 0

            token = await page.evaluate("sessionStorage.getItem('chimecast.token')")
            assert token and not any(token in url for url in requests)
            assert await page.context.cookies() == []
            assert await page.evaluate("localStorage.length") == 0

            response = await page.request.get(stack.web_url + "/")
            csp = response.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
            assert stack.signaling_url.rsplit("/", 1)[0] in csp  # connect-src: the daemon
            assert not [line for line in eve.console if "Content Security Policy" in line]

            await eve.by("logout").click()
            await expect(eve.by("screen-auth")).to_be_visible()
            assert await page.evaluate("sessionStorage.getItem('chimecast.token')") is None

    asyncio.run(scenario())


def test_phone_sized_screen_can_sign_in_with_the_keyboard_alone(stack):
    async def scenario() -> None:
        async with chromium() as browser:
            context = await browser.new_context(
                viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
            )
            page = await context.new_page()
            page.set_default_timeout(15_000)
            name = unique("kim")
            await asyncio.to_thread(ApiClient(stack.web_url).register, name, PASSWORD)
            await page.goto(stack.web_url + "/")
            await expect(page.locator("#login-username")).to_be_focused()
            await page.keyboard.type(name)
            await page.keyboard.press("Tab")
            await expect(page.locator("#login-password")).to_be_focused()
            await page.keyboard.type(PASSWORD)
            await page.keyboard.press("Enter")
            await expect(page.get_by_test_id("screen-home")).to_be_visible()
            await expect(page.get_by_test_id("search-input")).to_be_focused()
            overflow = await page.evaluate(
                "document.documentElement.scrollWidth - window.innerWidth"
            )
            assert overflow <= 0, f"page is {overflow}px wider than a phone screen"
            await page.keyboard.type(name)
            await page.keyboard.press("Enter")
            await expect(page.get_by_test_id("search-result")).to_have_count(1)

    asyncio.run(scenario())
