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
