"""The call code (issue 19 §6): both sides show the same code unless someone rewrote the SDP.

A man in the middle of the signaling hands each browser a fingerprint of its own. The test
plays that attacker on one page only: an init script (test-only, never part of the app)
rewrites the `a=fingerprint` lines of every description that page's RTCPeerConnection is
given, so the browser really negotiates the forged fingerprint. DTLS then fails, as it would
against a careless attacker; the code is computed from the negotiated descriptions and is
shown all the same.
"""

from __future__ import annotations

import asyncio
import hashlib
import re

import pytest

from tests.browser.helpers import User, chromium, expect, unique

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

FORGED = "sha-256 " + ":".join(["AB"] * 32)

# Test-only shim: the page's browser sets the forged fingerprint as the remote one.
REWRITE_FINGERPRINT_JS = """(() => {
  const original = RTCPeerConnection.prototype.setRemoteDescription;
  RTCPeerConnection.prototype.setRemoteDescription = function (description, ...rest) {
    if (description && description.sdp) {
      const sdp = description.sdp.replace(/^a=fingerprint:.*$/gm, "a=fingerprint:FORGED");
      description = {type: description.type, sdp};
    }
    return original.call(this, description, ...rest);
  };
})();""".replace("FORGED", FORGED)

DESCRIPTIONS_JS = """() => {
  const pc = window.__chimecast.pc;
  return {local: pc.localDescription.sdp, remote: pc.remoteDescription.sdp};
}"""


def fingerprints(sdp: str) -> list[str]:
    found = re.findall(r"^a=fingerprint:(\S+)\s+([0-9A-Fa-f:]+)\s*$", sdp, re.M)
    return sorted({f"{algo.lower()} {value.upper()}" for algo, value in found})


def expected_code(local_sdp: str, remote_sdp: str) -> str:
    """The code by the documented rule, computed here independently of the page's code."""
    text = "\n".join(sorted(fingerprints(local_sdp) + fingerprints(remote_sdp)))
    number = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") % 1_000_000
    digits = f"{number:06d}"
    return f"{digits[:3]} {digits[3:]}"


async def shown_code(user: User) -> str:
    """Open the call's info panel and read the code once it is there."""
    if await user.by("call-info-panel").is_hidden():
        await user.by("call-info-button").click()
    await expect(user.by("call-code")).to_have_attribute("data-code", re.compile(r"^\d{3} \d{3}$"))
    return await user.by("call-code").get_attribute("data-code")


async def ring_and_answer(caller: User, callee: User) -> None:
    await caller.call(callee.name)
    await callee.wait_ringing(caller.name)
    await callee.by("accept-call").click()
    await expect(callee.by("screen-call")).to_be_visible()


def test_call_code_matches_and_differs_when_a_fingerprint_is_rewritten(stack):
    async def scenario() -> None:
        async with chromium() as browser:
            alice = await User.open(browser, stack.web_url, unique("alice"))
            bob = await User.open(browser, stack.web_url, unique("bob"))
            carol = await User.open(browser, stack.web_url, unique("carol"))
            await carol.page.context.add_init_script(REWRITE_FINGERPRINT_JS)
            await carol.page.reload()
            await alice.register_and_login("Alice Liddell")
            await bob.register_and_login("Bob Builder")
            await carol.register_and_login("Carol Danvers")

            # A normal call: one code on both screens, the one the rule gives.
            await ring_and_answer(alice, bob)
            await alice.wait_in_call()
            await bob.wait_in_call()
            codes = {u.name: await shown_code(u) for u in (alice, bob)}
            print("normal call codes:", codes)
            assert codes[alice.name] == codes[bob.name], codes
            sdp = await alice.page.evaluate(DESCRIPTIONS_JS)
            assert codes[alice.name] == expected_code(sdp["local"], sdp["remote"])
            await expect(bob.by("call-code-help")).to_have_text(
                "Compare this code with Alice Liddell."
            )
            await alice.by("hang-up").click()
            await expect(bob.by("screen-home")).to_be_visible()
            await expect(alice.by("screen-home")).to_be_visible()

            # A rewritten fingerprint on Carol's side: her browser negotiated another key
            # than Alice's, and the codes disagree (DTLS fails; the codes show regardless).
            await ring_and_answer(alice, carol)
            codes = {u.name: await shown_code(u) for u in (alice, carol)}
            print("codes with a rewritten fingerprint:", codes)
            seen_by_carol = await carol.page.evaluate(DESCRIPTIONS_JS)
            assert fingerprints(seen_by_carol["remote"]) == [FORGED], "the shim took effect"
            assert codes[alice.name] != codes[carol.name], codes
            assert codes[carol.name] == expected_code(
                seen_by_carol["local"], seen_by_carol["remote"]
            )
            await alice.by("hang-up").click()

    asyncio.run(scenario())


def test_each_pair_of_a_meeting_shows_one_shared_code_in_the_participant_list(stack):
    async def scenario() -> None:
        async with chromium() as browser:
            host = await User.open(browser, stack.web_url, unique("host"))
            ann = await User.open(browser, stack.web_url, unique("ann"))
            await host.register_and_login()
            await ann.register_and_login()
            await host.by("meeting-submit").click()
            await expect(host.by("screen-meeting")).to_be_visible()
            link = await host.by("meeting-invite-link").input_value()
            await ann.page.goto(link)
            await expect(ann.by("screen-meeting")).to_be_visible()

            codes = {}
            for user, other in ((host, ann), (ann, host)):
                row = user.by("participant-list").locator(
                    f'[data-testid="participant"][data-username="{other.name}"]'
                )
                code = row.get_by_test_id("pair-code")
                await expect(code).to_have_attribute("data-code", re.compile(r"^\d{3} \d{3}$"))
                await expect(code).to_contain_text(f"compare it with {other.name}")
                codes[user.name] = await code.get_attribute("data-code")
                # My own row has no code: a code belongs to a pair.
                mine = user.by("participant-list").locator(f'[data-username="{user.name}"]')
                await expect(mine.get_by_test_id("pair-code")).to_have_count(0)
            print("meeting pair codes:", codes)
            assert codes[host.name] == codes[ann.name], codes

    asyncio.run(scenario())
