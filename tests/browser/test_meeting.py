"""Three people, three browser contexts: a meeting with a waiting room through the web client.

The host creates it in the UI and gets an invite link; one guest opens the link while logged
in, the other before logging in (on a phone-sized screen). The host admits one, then the
other with "Admit all". Every page then holds two peer connections and receives video and
audio over each; the host asks one guest to mute, locks the meeting, removes a guest and
ends the meeting for everyone.
"""

from __future__ import annotations

import asyncio
import json
import re

import pytest

from tests.browser.helpers import (
    User,
    chromium,
    expect,
    unique,
)
from tests.conftest import ARTIFACTS, PASSWORD

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]

# Per remote participant: decoded video frames and received audio packets on its connection.
PEER_MEDIA_JS = """async () => {
  const meeting = window.__chimecast.meeting;
  if (!meeting) return null;
  const out = {};
  for (const [user, pc] of Object.entries(meeting.peers)) {
    if (!pc) continue;
    const report = await pc.getStats();
    let video = 0, audio = 0;
    report.forEach((s) => {
      if (s.type !== "inbound-rtp") return;
      if (s.kind === "video") video += s.framesDecoded || 0;
      if (s.kind === "audio") audio += s.packetsReceived || 0;
    });
    out[user] = {video, audio, state: pc.connectionState};
  }
  return out;
}"""

# Every remote tile's <video> is playing a picture.
TILES_PLAYING_JS = """() => {
  const videos = [...document.querySelectorAll('[data-testid="meeting-tile"][data-remote="true"] video')];
  return videos.map((v) => !v.paused && v.readyState >= 2 && v.videoWidth > 0);
}"""

MEETING_RECORD_JS = """async (id) => {
  const token = sessionStorage.getItem("chimecast.token");
  const r = await fetch(`/meetings/${id}`, {headers: {Authorization: `Bearer ${token}`}});
  return r.json();
}"""


async def meeting_record_when(user: User, meeting_id: int, ok, seconds: float = 10) -> dict:
    """The meeting's record as soon as `ok(record)` holds, else the last one read."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        record = await user.page.evaluate(MEETING_RECORD_JS, meeting_id)
        if ok(record) or asyncio.get_running_loop().time() > deadline:
            return record
        await asyncio.sleep(0.1)


NO_SIDEWAYS_SCROLL_JS = "() => document.documentElement.scrollWidth <= window.innerWidth"


class Wire:
    """Everything a page sends: request URLs and headers, and WebSocket frames."""

    def __init__(self, user: User) -> None:
        self.requests: list[str] = []
        self.frames: list[str] = []
        user.page.on("request", self._request)
        user.page.on("websocket", self._socket)

    def _request(self, request) -> None:
        self.requests.append(request.url + " " + json.dumps(request.headers))

    def _socket(self, ws) -> None:
        ws.on("framesent", lambda payload: self.frames.append(str(payload)))

    def leaks(self, token: str) -> list[str]:
        """Where the token went other than inside a join_meeting message."""
        bad = [r for r in self.requests if token in r]
        for frame in self.frames:
            if token in frame and json.loads(frame).get("type") != "join_meeting":
                bad.append(frame)
        return bad

    def joins_with(self, token: str) -> int:
        return sum(1 for f in self.frames if token in f and '"join_meeting"' in f)


async def register_then_login(user: User) -> None:
    """Like User.register_and_login, but the page may go elsewhere than home (a meeting)."""
    page = user.page
    await page.locator("#register-username").fill(user.name)
    await page.locator("#register-password").fill(PASSWORD)
    await user.by("register-submit").click()  # which logs in


async def mesh_media(user: User, others: set[str], seconds: float = 20) -> dict:
    """Wait until `user` receives video and audio from each of `others`, and it keeps growing."""

    async def reading(ok) -> dict:
        async with asyncio.timeout(seconds):
            while True:
                seen = await user.page.evaluate(PEER_MEDIA_JS)
                if seen and set(seen) == others and all(ok(u, c) for u, c in seen.items()):
                    return seen
                await asyncio.sleep(0.25)

    first = await reading(lambda u, c: c["video"] > 0 and c["audio"] > 0)
    second = await reading(
        lambda u, c: c["video"] > first[u]["video"] and c["audio"] > first[u]["audio"]
    )
    return {"first": first, "second": second}


def remote_tiles(user: User):
    return user.page.locator('[data-testid="meeting-tile"][data-remote="true"]')


def row(user: User, list_id: str, item_id: str, username: str):
    return user.by(list_id).locator(f'[data-testid="{item_id}"][data-username="{username}"]')


def test_three_browsers_meet_through_the_waiting_room_see_each_other_and_are_moderated(stack):
    async def scenario() -> None:
        async with chromium() as browser:
            host = await User.open(browser, stack.web_url, unique("host"))
            ann = await User.open(browser, stack.web_url, unique("ann"))
            ben = await User.open(browser, stack.web_url, unique("ben"), phone=True)
            wires = {u.name: Wire(u) for u in (host, ann, ben)}
            await host.register_and_login("Hannah Host")
            await ann.register_and_login()

            # The host starts a meeting with a waiting room and gets its invite link.
            await host.by("meeting-name").fill("Standup <b>team</b>")
            await host.by("meeting-waiting-room").check()
            await host.by("meeting-size").fill("4")
            await host.by("meeting-submit").click()
            await expect(host.by("screen-meeting")).to_be_visible()
            await expect(host.by("meeting-title")).to_have_text("Standup <b>team</b>")
            await expect(host.by("meeting-host-badge")).to_be_visible()
            await expect(host.by("waiting-panel")).to_be_visible()
            link = await host.by("meeting-invite-link").input_value()
            found = re.fullmatch(
                re.escape(stack.web_url) + r"/#meeting=(\d+)&invite=(cci_[\w-]+)", link
            )
            assert found, link
            meeting_id, token = int(found[1]), found[2]
            await host.by("meeting-invite-copy").click()
            await expect(host.by("meeting-invite-copy")).not_to_have_text("Copy")
            await expect(remote_tiles(host)).to_have_count(0)

            # Ann is logged in and opens the link in her tab; Ben opens it before logging in.
            await ann.page.goto(link)
            await expect(ann.by("screen-waiting")).to_be_visible()
            await expect(ann.by("waiting-status")).to_contain_text("host will let you in")
            await ben.page.goto("about:blank")
            await ben.page.goto(link)
            await expect(ben.by("screen-auth")).to_be_visible()
            await expect(ben.by("notice")).to_contain_text("Log in to join")
            await register_then_login(ben)
            await expect(ben.by("screen-waiting")).to_be_visible()
            await expect(ben.by("waiting-title")).to_have_text("Standup <b>team</b>")
            for user in (ann, ben):
                # The fragment was read once and taken out of the address bar.
                assert token not in user.page.url and "#" not in user.page.url, user.page.url
                state = await user.page.evaluate("window.__chimecast.meeting")
                assert state["state"] == "waiting" and state["id"] == meeting_id, state

            # The host sees both waiting, lets Ann in, then everyone left ("Admit all").
            waiting_ann = row(host, "waiting-list", "waiting-item", ann.name)
            waiting_ben = row(host, "waiting-list", "waiting-item", ben.name)
            await expect(waiting_ann).to_be_visible()
            await expect(waiting_ben).to_be_visible()
            await waiting_ann.get_by_test_id("admit").click()
            await expect(ann.by("screen-meeting")).to_be_visible()
            await expect(waiting_ann).to_have_count(0)
            await expect(ben.by("screen-waiting")).to_be_visible()
            await host.by("admit-all").click()
            await expect(ben.by("screen-meeting")).to_be_visible()
            await expect(host.by("waiting-empty")).to_be_visible()

            # Each page: two remote tiles, and media from both others on its two connections.
            everyone = (host, ann, ben)
            for user in everyone:
                await expect(remote_tiles(user)).to_have_count(2)
                await expect(user.by("participant")).to_have_count(3)
            for user in everyone:
                others = {u.name for u in everyone} - {user.name}
                seen = await mesh_media(user, others)
                print(user.name, seen["second"])
                state = await user.page.evaluate("window.__chimecast.meeting")
                assert state["host"] == host.name and state["state"] == "in", state
                assert token not in json.dumps(state)
                await user.page.wait_for_function(
                    f"() => {{ const p = ({TILES_PLAYING_JS})();"
                    " return p.length === 2 && p.every(Boolean); }"
                )
            for user in (ann, ben):  # only the host moderates
                await expect(user.by("meeting-end")).to_be_hidden()
                await expect(user.by("meeting-invite")).to_be_hidden()
                await expect(user.by("remove-participant")).to_have_count(0)
            own_label = host.by("meeting-grid").locator(f'[data-username="{host.name}"]')
            await expect(own_label).to_contain_text("Hannah Host (you)")
            assert await ben.page.evaluate(NO_SIDEWAYS_SCROLL_JS), "phone: the grid wraps"
            ARTIFACTS.mkdir(exist_ok=True)
            # Clipped from the page: the live videos never let an element count as "stable".
            grid = await host.by("meeting-grid").bounding_box()
            await host.page.screenshot(path=str(ARTIFACTS / "meeting-grid.png"), clip=grid)
            await host.screenshot("meeting-host.png")
            await ben.screenshot("meeting-phone.png")

            # Ask to mute: Ann is asked, and she is the one who mutes.
            await (
                row(host, "participant-list", "participant", ann.name)
                .get_by_test_id("ask-mute")
                .click()
            )
            await expect(ann.by("mute-prompt")).to_be_visible()
            await expect(ann.by("mute-prompt")).to_contain_text(host.name)
            await expect(ann.by("meeting-mic")).to_have_attribute("aria-pressed", "false")
            await ann.by("mute-me").click()
            await expect(ann.by("meeting-mic")).to_have_attribute("aria-pressed", "true")
            await expect(ann.by("mute-prompt")).to_be_hidden()

            # Lock: everyone sees it.
            await host.by("meeting-lock").click()
            for user in everyone:
                await expect(user.by("meeting-locked")).to_be_visible()

            # Remove Ben: his page leaves with a notice; the others drop his tile.
            await (
                row(host, "participant-list", "participant", ben.name)
                .get_by_test_id("remove-participant")
                .click()
            )
            await expect(ben.by("screen-home")).to_be_visible()
            await expect(ben.by("notice")).to_contain_text("removed you")
            assert await ben.page.evaluate("window.__chimecast.meeting") is None
            for user in (host, ann):
                await expect(remote_tiles(user)).to_have_count(1)
                await expect(user.by("participant")).to_have_count(2)
                state = await user.page.evaluate("window.__chimecast.meeting")
                assert ben.name not in state["peers"], state
                await mesh_media(user, {host.name, ann.name} - {user.name})

            # The host ends it for everyone.
            await host.by("meeting-end").click()
            for user, words in ((ann, "host ended the meeting"), (host, "for everyone")):
                await expect(user.by("screen-home")).to_be_visible()
                await expect(user.by("notice")).to_contain_text(words)
                assert await user.page.evaluate("window.__chimecast.meeting") is None

            record = await host.page.evaluate(MEETING_RECORD_JS, meeting_id)
            assert record["state"] == "ended", record
            assert record["end_reason"] == "ended_by_host", record
            seats = {s["username"]: s for s in record["history"]}
            assert seats[ben.name]["state"] == "removed", seats
            assert seats[ann.name]["left_reason"] == "meeting_ended", seats

            for user in everyone:
                wire = wires[user.name]
                assert not wire.leaks(token), (user.name, wire.leaks(token))
                csp = [line for line in user.console if "Content Security Policy" in line]
                assert not csp, csp
            assert wires[ann.name].joins_with(token) >= 1
            assert wires[ben.name].joins_with(token) >= 1
            assert wires[host.name].joins_with(token) == 0, "the host joins without it"

    asyncio.run(scenario())


def test_denied_guest_is_told_a_reloaded_guest_comes_back_and_the_host_hands_over(stack):
    async def scenario() -> None:
        async with chromium() as browser:
            host = await User.open(browser, stack.web_url, unique("host"))
            ann = await User.open(browser, stack.web_url, unique("ann"))
            eve = await User.open(browser, stack.web_url, unique("eve"))
            for user in (host, ann, eve):
                await user.register_and_login()
            await host.by("meeting-waiting-room").check()
            await host.by("meeting-submit").click()
            await expect(host.by("screen-meeting")).to_be_visible()
            link = await host.by("meeting-invite-link").input_value()
            meeting_id = int(re.search(r"#meeting=(\d+)&", link)[1])

            await ann.page.goto(link)
            await eve.page.goto(link)
            for user in (ann, eve):
                await expect(user.by("screen-waiting")).to_be_visible()
            await row(host, "waiting-list", "waiting-item", eve.name).get_by_test_id("deny").click()
            await expect(eve.by("screen-home")).to_be_visible()
            await expect(eve.by("notice")).to_contain_text("did not let you in")
            assert await eve.page.evaluate("window.__chimecast.meeting") is None
            await (
                row(host, "waiting-list", "waiting-item", ann.name).get_by_test_id("admit").click()
            )
            for user, other in ((host, ann), (ann, host)):
                await expect(remote_tiles(user)).to_have_count(1)
                await mesh_media(user, {other.name})

            # Ann reloads: the page rejoins by itself, as a newcomer with fresh connections.
            before = await host.page.evaluate(
                "() => window.__chimecast.meeting.peers[Object.keys("
                "window.__chimecast.meeting.peers)[0]].localDescription.sdp"
            )
            await ann.page.reload()
            await expect(ann.by("screen-meeting")).to_be_visible()
            for user, other in ((host, ann), (ann, host)):
                await expect(remote_tiles(user)).to_have_count(1)
                await mesh_media(user, {other.name})
            after = await host.page.evaluate(
                "() => window.__chimecast.meeting.peers[Object.keys("
                "window.__chimecast.meeting.peers)[0]].localDescription.sdp"
            )
            assert before != after, "the host answered on a new connection"

            # Ann's socket drops (not the page): she joins again and media comes back.
            await ann.page.evaluate("window.__chimecast.dropSignaling()")
            await ann.wait_signaling()
            for user, other in ((host, ann), (ann, host)):
                await expect(remote_tiles(user)).to_have_count(1)
                await mesh_media(user, {other.name})

            # The host hands over to Ann: the controls move to her page.
            await (
                row(host, "participant-list", "participant", ann.name)
                .get_by_test_id("make-host")
                .click()
            )
            for visible in ("meeting-host-badge", "meeting-end", "waiting-panel"):
                await expect(ann.by(visible)).to_be_visible()
                await expect(host.by(visible)).to_be_hidden()
            await expect(ann.by("notice")).to_contain_text("You are now the host")
            await expect(ann.by("remove-participant")).to_have_count(1)
            await expect(host.by("remove-participant")).to_have_count(0)
            await expect(ann.by("meeting-invite")).to_be_hidden()  # she has no link to show

            # The old host leaves; Ann is alone, then leaves too, which ends the meeting.
            await host.by("meeting-leave").click()
            await expect(host.by("screen-home")).to_be_visible()
            await expect(host.by("notice")).to_contain_text("You left the meeting")
            await expect(remote_tiles(ann)).to_have_count(0)
            await expect(ann.by("participant")).to_have_count(1)
            await ann.by("meeting-leave").click()
            await expect(ann.by("screen-home")).to_be_visible()
            # Leaving is sent without waiting for an answer: the page is home at once, and
            # the daemon records the leave (and the meeting's end) a moment later.
            record = await meeting_record_when(
                ann, meeting_id, lambda r: r["state"] == "ended" and r["end_reason"] == "empty"
            )
            assert record["state"] == "ended" and record["end_reason"] == "empty", record

    asyncio.run(scenario())
