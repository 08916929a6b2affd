"""axe-core on the screens one person can reach alone: no serious or critical violation.

axe-core comes from the npm registry (tests/js/package.json); .ci/run installs it into a cache
outside the repository and exports CHIMECAST_AXE_JS. The page's CSP forbids inline scripts, so
this test's browser context bypasses CSP to inject axe (the app's own pages are unchanged).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from tests.browser.helpers import DESKTOP, OPEN_USERS, User, chromium, expect, unique

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

AXE_JS = Path(
    os.environ.get(
        "CHIMECAST_AXE_JS",
        str(Path.home() / ".cache/chimecast-client-npm/node_modules/axe-core/axe.min.js"),
    )
)

RUN_AXE_JS = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.impact} ${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}"""


async def violations(user: User) -> list[str]:
    await user.page.add_script_tag(path=str(AXE_JS))
    return await user.page.evaluate(RUN_AXE_JS)


def test_auth_home_and_settings_screens_have_no_serious_accessibility_violations(stack):
    if not AXE_JS.is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"axe-core not found at {AXE_JS} (.ci/run installs it)")
        pytest.skip(f"axe-core not found at {AXE_JS}: npm ci in tests/js's cache (see .ci/run)")

    async def scenario() -> None:
        async with chromium() as browser:
            context = await browser.new_context(viewport=DESKTOP, bypass_csp=True)
            page = await context.new_page()
            user = User(page, stack.web_url, unique("axe"))
            OPEN_USERS.append(user)
            await page.goto(stack.web_url + "/")
            await expect(user.by("screen-auth")).to_be_visible()
            found = {"auth": await violations(user)}
            await user.register_and_login("Ada Axe")
            found["home"] = await violations(user)
            await user.by("settings-button").click()
            await expect(user.by("device-panel")).to_be_visible()
            found["settings"] = await violations(user)
            print(found)
            assert not any(found.values()), found

    asyncio.run(scenario())


def test_call_and_meeting_screens_have_no_serious_accessibility_violations(stack):
    if not AXE_JS.is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"axe-core not found at {AXE_JS} (.ci/run installs it)")
        pytest.skip(f"axe-core not found at {AXE_JS}: npm ci in tests/js's cache (see .ci/run)")

    async def person(browser, prefix: str) -> User:
        context = await browser.new_context(viewport=DESKTOP, bypass_csp=True)
        page = await context.new_page()
        user = User(page, stack.web_url, unique(prefix))
        OPEN_USERS.append(user)
        await page.goto(stack.web_url + "/")
        await user.register_and_login()
        return user

    async def scenario() -> None:
        async with chromium() as browser:
            ada = await person(browser, "ada")
            bea = await person(browser, "bea")
            found: dict[str, list[str]] = {}
            await ada.call(bea.name)
            await bea.wait_ringing(ada.name)
            found["incoming"] = await violations(bea)
            await bea.by("accept-call").click()
            await ada.wait_in_call()
            await ada.by("screen-call").get_by_test_id("chat-button").click()
            await ada.by("call-info-button").click()
            found["call"] = await violations(ada)
            # Bea shares her screen: Ada sees it large and Bea's camera small.
            await bea.by("share-screen").click()
            await expect(ada.by("remote-camera")).to_be_visible()
            found["call-shared-screen"] = await violations(ada)
            await ada.by("hang-up").click()
            await expect(bea.by("screen-home")).to_be_visible()

            await ada.by("meeting-submit").click()
            await expect(ada.by("screen-meeting")).to_be_visible()
            link = await ada.by("meeting-invite-link").input_value()
            await bea.page.goto(link)
            await expect(bea.by("screen-meeting")).to_be_visible()
            await expect(ada.by("remove-participant")).to_have_count(1)
            await ada.by("screen-meeting").get_by_test_id("chat-button").click()
            await ada.by("meeting-hand").click()
            await ada.by("meeting-react").click()
            found["meeting-host"] = await violations(ada)
            found["meeting-guest"] = await violations(bea)
            # A shared screen: its badge, and the sharer's camera small in the tile.
            await bea.by("meeting-share").click()
            shared = ada.page.locator(f'[data-testid="meeting-tile"][data-username="{bea.name}"]')
            await expect(shared.get_by_test_id("sharer-camera")).to_be_visible()
            found["meeting-sharing"] = await violations(ada)
            # Home again: history with a call and a meeting, recent contacts with presence.
            for user in (bea, ada):
                await user.by("meeting-leave").click()
                await expect(user.by("screen-home")).to_be_visible()
            await expect(ada.by("history-meeting")).to_have_count(1)
            await expect(ada.by("contact")).to_have_count(1)
            found["home-history"] = await violations(ada)
            print(found)
            assert not any(found.values()), found

    asyncio.run(scenario())
