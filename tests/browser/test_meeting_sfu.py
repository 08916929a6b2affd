"""A large meeting through Janus in real Chromium: the web client loads Debian's janus.js
from the web app (no CDN), publishes one stream and shows every other participant's feed,
with rising framesDecoded on every remote tile; the host removes one participant, whose
tile disappears everywhere and whose page stops. Small tiles receive the low simulcast
layer, an enlarged tile the high one."""

from __future__ import annotations

import asyncio

import pytest

from app.janus.client import JanusError
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

# My upload's frame width per simulcast layer (rid -> width; 0 while a layer sends nothing).
UPLOAD_WIDTHS_JS = """async () => {
  const pc = window.__chimecast.meeting.publisher;
  const widths = {};
  (await pc.getStats()).forEach((s) => {
    if (s.type === "outbound-rtp" && s.kind === "video") widths[s.rid ?? "-"] = s.frameWidth ?? 0;
  });
  return widths;
}"""

# What I receive of each other participant's camera: frame width and frames decoded.
FEED_VIDEO_JS = """async () => {
  const out = {};
  for (const [user, pc] of Object.entries(window.__chimecast.meeting.peers)) {
    if (!pc) continue;
    (await pc.getStats()).forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "video") {
        out[user] = {width: s.frameWidth ?? 0, frames: s.framesDecoded ?? 0,
                     asked: window.__chimecast.meeting.layers[user]};
      }
    });
  }
  return out;
}"""

# The CSS width of each remote tile's <video>.
TILE_WIDTHS_JS = """() => Object.fromEntries([...document.querySelectorAll(
  '[data-testid="meeting-tile"][data-remote="true"]')].map(
  (t) => [t.dataset.username, t.querySelector("video").clientWidth]))"""

# The videos of `user`'s remote tile: the main one and, while they share, their camera in
# its corner; each with its picture's aspect and the frames decoded of its track.
TILE_VIDEOS_JS = """async (user) => {
  const tile = document.querySelector(
    `[data-testid="meeting-tile"][data-remote="true"][data-username="${user}"]`);
  const pc = window.__chimecast.meeting.peers[user];
  if (!tile || !pc) return null;
  const frames = {};
  (await pc.getStats()).forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "video") frames[s.trackIdentifier] = s.framesDecoded;
  });
  const read = (v) => {
    const track = v?.srcObject?.getVideoTracks()[0];
    if (!track || !v.videoHeight) return null;
    return {aspect: v.videoWidth / v.videoHeight, frames: frames[track.id] ?? 0};
  };
  return {main: read(tile.querySelector("video")),
          camera: read(tile.querySelector('[data-testid="sharer-camera"]'))};
}"""

# How many video and audio streams I receive on my subscription to `user`'s feed.
FEED_STREAMS_JS = """async (user) => {
  const pc = window.__chimecast.meeting.peers[user];
  const counts = {video: 0, audio: 0};
  for (const t of pc.getTransceivers()) {
    if (t.currentDirection?.startsWith("recv")) counts[t.receiver.track.kind] += 1;
  }
  return counts;
}"""

# How many video and audio streams my one upload sends (active, with bytes going out).
UPLOAD_STREAMS_JS = """async () => {
  const pc = window.__chimecast.meeting.publisher;
  const counts = {video: 0, audio: 0};
  for (const t of pc.getTransceivers()) {
    if (t.sender.track && t.currentDirection?.startsWith("send")) counts[t.sender.track.kind] += 1;
  }
  return counts;
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


async def sfu_meeting(browser, stack, prefixes: tuple[str, ...]) -> tuple[list[User], int]:
    """Users named after `prefixes`, the first hosting an SFU meeting they are all in,
    each receiving video and sound from every other; returns the users and the meeting."""
    users = [await User.open(browser, stack.web_url, unique(p)) for p in prefixes]
    for user in users:
        await user.register_and_login()
    created = await users[0].page.evaluate(CREATE_JS)
    assert created["meeting"]["media"] == "sfu", created
    meeting_id, invite = created["meeting"]["id"], created["invite"]
    link = f"{stack.web_url}/#meeting={meeting_id}&invite={invite}"
    for user in users:
        await user.page.goto(link)
        await expect(user.by("screen-meeting")).to_be_visible()
    for user in users:
        # A tile comes with the feed: after that page's Janus join and publish (slow on a
        # loaded machine).
        await expect(remote_tiles(user)).to_have_count(len(users) - 1, timeout=20_000)
    for user in users:
        await mesh_media(user, {u.name for u in users} - {user.name}, seconds=30)
    return users, meeting_id


async def until(what: str, read, ok, seconds: float = 15):
    """Poll `read()` until `ok(value)`; fail saying `what` and the last value."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        value = await read()
        if ok(value):
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what}: {value}")
        await asyncio.sleep(0.5)


def janus_layers(admin, token: str) -> dict[int, dict]:
    """Janus's own view (Admin API handle_info): for each feed that the holder of `token`
    subscribes to, the simulcast state of its video (substream now and targeted)."""
    layers = {}
    for session in admin._call({"janus": "list_sessions"}).get("sessions", []):
        try:
            handles = admin._call({"janus": "list_handles"}, f"/{session}").get("handles", [])
            infos = [admin._call({"janus": "handle_info"}, f"/{session}/{h}") for h in handles]
        except JanusError:
            continue  # another page's session that went away meanwhile
        for info in (i.get("info", {}) for i in infos):
            plugin = info.get("plugin_specific", {})
            if info.get("token") != token or plugin.get("type") != "subscriber":
                continue
            for stream in plugin.get("streams", []):
                if "simulcast" in stream:
                    layers[stream["feed_id"]] = stream["simulcast"]
    return layers


async def tile_decodes(viewer: User, user: str, screen: bool) -> None:
    """`viewer`'s tile of `user` shows their screen (16:9) large and their camera (4:3) in
    its corner, both decoding more frames (`screen`), or only their camera."""

    def shapes(videos) -> bool:
        main, camera = videos["main"], videos["camera"]
        if not screen:
            return camera is None and main is not None and abs(main["aspect"] - 4 / 3) < 0.05
        return (
            main is not None
            and camera is not None
            and abs(main["aspect"] - 16 / 9) < 0.05
            and abs(camera["aspect"] - 4 / 3) < 0.05
        )

    def read():
        return viewer.page.evaluate(TILE_VIDEOS_JS, user)

    first = await until(f"{viewer.name}'s tile of {user}", read, lambda v: v and shapes(v), 20)
    await until(
        f"{viewer.name}'s tile of {user} decoding",
        read,
        lambda v: (
            v
            and shapes(v)
            and all(v[k]["frames"] > first[k]["frames"] for k in ("main", "camera") if first[k])
        ),
    )


def test_four_browsers_meet_through_janus_and_the_host_removes_one(stack, janus_node):
    async def scenario() -> None:
        async with chromium() as browser:
            users, meeting_id = await sfu_meeting(browser, stack, ("host", "ann", "ben", "cat"))
            host, ann, ben, cat = users
            # Each page uploads one stream, in two simulcast layers (h, and l half as wide).
            for user in users:
                layers = await user.page.evaluate(UPLOAD_LAYERS_JS)
                assert sum(1 for sent in layers.values() if sent > 0) >= 2, layers
            # Everything came from this origin and the Janus node: no CDN.
            loaded = await host.page.evaluate(
                "() => performance.getEntriesByType('resource').map((e) => e.name)"
            )
            assert f"{stack.web_url}/vendor/janus.js" in loaded
            assert all(u.startswith((stack.web_url, janus_node.api)) for u in loaded), loaded

            # The host shares the screen (1280x720, 16:9; the camera is 640x480) beside the
            # camera, as a second stream of the one upload: the others' tile of the host shows
            # the screen large and the camera in its corner, both decoding.
            await host.by("meeting-share").click()
            for user in (ann, ben, cat):
                await tile_decodes(user, host.name, screen=True)
            sent = await host.page.evaluate(UPLOAD_STREAMS_JS)
            assert sent["video"] == 2, sent  # camera and screen, one connection
            # Cat reloads her tab while the host shares: back in, she subscribes to the
            # host's camera and screen at once.
            await cat.page.reload()
            await expect(cat.by("screen-meeting")).to_be_visible()
            await tile_decodes(cat, host.name, screen=True)
            # Stopped: the screen stream is taken out, the camera goes on.
            await host.by("meeting-share").click()
            for user in (ann, ben, cat):
                await tile_decodes(user, host.name, screen=False)
            sent = await until(
                "the host's upload",
                lambda: host.page.evaluate(UPLOAD_STREAMS_JS),
                lambda s: s["video"] == 1,
            )
            for user in (ann, ben, cat):
                await until(
                    f"{user.name}'s subscription to {host.name}",
                    lambda user=user: user.page.evaluate(FEED_STREAMS_JS, host.name),
                    lambda s: s["video"] == 1,
                )
            # Sharing again reuses the upload's screen stream.
            await host.by("meeting-share").click()
            await tile_decodes(ann, host.name, screen=True)
            await host.by("meeting-share").click()
            await tile_decodes(ann, host.name, screen=False)

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


def test_small_tiles_receive_the_low_simulcast_layer_and_a_full_screen_tile_the_high(
    stack, janus_node
):
    async def scenario() -> None:
        async with chromium() as browser:
            users, meeting_id = await sfu_meeting(browser, stack, ("host", "ann", "ben"))
            host, ann, ben = users
            # Each publisher uploads two layers, the low one half as wide as the high one.
            high = {}
            for user in (host, ben):
                widths = await until(
                    f"{user.name} uploads two layers",
                    lambda user=user: user.page.evaluate(UPLOAD_WIDTHS_JS),
                    lambda w: (
                        len(sent := sorted(x for x in w.values() if x)) >= 2
                        and sent[0] <= 0.6 * sent[-1]
                    ),
                )
                high[user.name] = max(widths.values())

            # Ann's window is small: three tiles well under the high layer's width. She gets
            # both feeds in the low layer (Janus's default would be the high one).
            await ann.page.set_viewport_size({"width": 780, "height": 520})
            tiles = await until(
                "small tiles",
                lambda: ann.page.evaluate(TILE_WIDTHS_JS),
                lambda t: len(t) == 2 and all(0 < w < 0.5 * high[u] for u, w in t.items()),
            )

            async def layers(ok):
                try:
                    return await until(
                        "layers received by ann",
                        lambda: ann.page.evaluate(FEED_VIDEO_JS),
                        lambda got: set(got) == set(high) and all(ok(u, got[u]) for u in got),
                        seconds=25,
                    )
                except AssertionError as failed:
                    sent = {u.name: await u.page.evaluate(UPLOAD_LAYERS_JS) for u in (host, ben)}
                    raise AssertionError(f"{failed}; bytes sent per layer: {sent}") from None

            def low(user, got):
                return 0 < got["width"] <= 0.6 * high[user]

            def high_layer(user, got):
                # Chromium may scale its high layer down under CPU load: clearly above low.
                return got["width"] >= 0.7 * high[user]

            small = await layers(low)
            # Janus says the same: it forwards the low layer (substream 0) of both feeds.
            sfu = (await ann.page.evaluate(MEETING_RECORD_JS, meeting_id))["sfu"]
            feeds = {sfu["feeds"][host.name]: host.name, sfu["feeds"][ben.name]: ben.name}

            def janus_says(wanted):
                return until(
                    "Janus's simulcast state of ann's feeds",
                    lambda: asyncio.to_thread(janus_layers, janus_node.admin, sfu["token"]),
                    lambda got: (
                        {feeds.get(f): s.get("substream") for f, s in got.items()} == wanted
                    ),
                    seconds=10,
                )

            await janus_says({host.name: 0, ben.name: 0})

            # Full screen on the host's tile: the host's feed rises to the high layer, Ben's
            # stays low, and both keep decoding.
            tile = ann.page.locator(
                f'[data-testid="meeting-tile"][data-remote="true"][data-username="{host.name}"]'
            )
            await tile.hover()
            await tile.get_by_role("button", name=f"Full screen: {host.name}").click()
            await ann.page.wait_for_function(
                f"() => document.fullscreenElement?.dataset.username === '{host.name}'"
            )
            full = await layers(
                lambda u, got: (
                    (high_layer if u == host.name else low)(u, got)
                    and got["frames"] > small[u]["frames"]
                )
            )
            await janus_says({host.name: 1, ben.name: 0})
            # Back from full screen: low again.
            await ann.page.get_by_role("button", name="Exit full screen").click()
            await ann.page.wait_for_function("() => document.fullscreenElement === null")
            back = await layers(low)
            print(f"layers: upload high {high}, small tiles {tiles}")
            print(f"received in small tiles {small}, host full screen {full}, back {back}")

    asyncio.run(scenario())
