"""A large meeting through Janus in real Chromium: the web client loads Debian's janus.js
from the web app (no CDN), publishes one stream and shows every other participant's feed,
with rising framesDecoded on every remote tile; the host removes one participant, whose
tile disappears everywhere and whose page stops."""

from __future__ import annotations

import asyncio

import pytest

from tests.browser.helpers import User, chromium, expect, unique
from tests.browser.test_meeting import MEETING_RECORD_JS, mesh_media, remote_tiles, row
from tests.janus import ADMIN_KEY, JANUS, SKIP_REASON, start_janus

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

CREATE_JS = """async () => {
  const token = sessionStorage.getItem("chimecast.token");
  const r = await fetch("/meetings", {method: "POST",
    headers: {Authorization: `Bearer ${token}`, "Content-Type": "application/json"},
    body: JSON.stringify({name: "All hands", max_participants: 30})});
  return r.json();
}"""

# The active video layers (rid -> bytes sent) of my one upload to Janus.
UPLOAD_LAYERS_JS = """async () => {
  const pc = window.__chimecast.meeting.publisher;
  const layers = {};
  (await pc.getStats()).forEach((s) => {
    if (s.type === "outbound-rtp" && s.kind === "video") layers[s.rid ?? "-"] = s.bytesSent;
  });
  return layers;
}"""

# The remote tile of `user` shows a 16:9 picture (the fake screen, not the 4:3 camera).
TILE_IS_WIDE_JS = """(user) => {
  const v = document.querySelector(
    `[data-testid="meeting-tile"][data-remote="true"][data-username="${user}"] video`);
  return Boolean(v && v.videoHeight > 0 && Math.abs(v.videoWidth / v.videoHeight - 16 / 9) < 0.05);
}"""


@pytest.fixture
def janus_node(tmp_path):
    if JANUS is None:
        pytest.skip(SKIP_REASON)
    node = start_janus(tmp_path / "janus")
    yield node
    node.stop()


@pytest.fixture
def stack_env(janus_node) -> dict[str, str]:
    return {"CHIMECAST_JANUS_URLS": janus_node.setting, "CHIMECAST_JANUS_ADMIN_KEY": ADMIN_KEY}


def test_four_browsers_meet_through_janus_and_the_host_removes_one(stack, janus_node):
    async def scenario() -> None:
        async with chromium() as browser:
            names = [unique(p) for p in ("host", "ann", "ben", "cat")]
            users = [await User.open(browser, stack.web_url, name) for name in names]
            host, ann, ben, cat = users
            for user in users:
                await user.register_and_login()
            created = await host.page.evaluate(CREATE_JS)
            assert created["meeting"]["media"] == "sfu", created
            meeting_id, invite = created["meeting"]["id"], created["invite"]
            link = f"{stack.web_url}/#meeting={meeting_id}&invite={invite}"
            for user in users:
                await user.page.goto(link)
                await expect(user.by("screen-meeting")).to_be_visible()
            for user in users:
                await expect(remote_tiles(user)).to_have_count(3)
            for user in users:
                others = {u.name for u in users} - {user.name}
                await mesh_media(user, others, seconds=30)
            # Each page uploads one stream, in simulcast layers: janus.js asks for h, m and l,
            # Chromium sends two of them for its 640x480 fake camera (measured: l stays 0).
            for user in users:
                layers = await user.page.evaluate(UPLOAD_LAYERS_JS)
                assert sum(1 for sent in layers.values() if sent > 0) >= 2, layers
            # Everything came from this origin and the Janus node: no CDN.
            loaded = await host.page.evaluate(
                "() => performance.getEntriesByType('resource').map((e) => e.name)"
            )
            assert f"{stack.web_url}/vendor/janus.js" in loaded
            assert all(u.startswith((stack.web_url, janus_node.api)) for u in loaded), loaded

            # The host shares the screen (1280x720, 16:9; the camera is 640x480): the others'
            # tile of the host switches to it, through the publisher's one sender.
            await host.by("meeting-share").click()
            for user in (ann, ben, cat):
                await user.page.wait_for_function(TILE_IS_WIDE_JS, arg=host.name)
            await host.by("meeting-share").click()
            for user in (ann, ben, cat):
                await user.page.wait_for_function(f"() => !({TILE_IS_WIDE_JS})('{host.name}')")

            # The host removes Ben: his feed leaves the room, his page the meeting, his tile
            # every other page; the others go on seeing each other.
            sfu = (await host.page.evaluate(MEETING_RECORD_JS, meeting_id))["sfu"]
            assert sfu["feeds"][ben.name] in [
                p["id"] for p in janus_node.admin.participants(sfu["room"])
            ]
            await (
                row(host, "participant-list", "participant", ben.name)
                .get_by_test_id("remove-participant")
                .click()
            )
            await expect(ben.by("screen-home")).to_be_visible()
            await expect(ben.by("notice")).to_contain_text("removed you")
            feeds = [p["id"] for p in janus_node.admin.participants(sfu["room"])]
            assert sfu["feeds"][ben.name] not in feeds, feeds
            for user in (host, ann, cat):
                await expect(remote_tiles(user)).to_have_count(2)
            for user in (host, ann, cat):
                await mesh_media(user, {host.name, ann.name, cat.name} - {user.name}, seconds=15)

    asyncio.run(scenario())
