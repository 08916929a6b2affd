"""Driving the web client like a person would, and reading what the browser really got.

`User` wraps one Playwright page (one browser context, so one person). Media checks use the
page's own RTCPeerConnection (`window.__chimecast.pc`) and the pixels of its <video>s.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

try:
    from playwright.async_api import Browser, Page, Playwright, async_playwright, expect
except ImportError:  # conftest skips every browser test, saying why
    async_playwright = expect = None  # type: ignore[assignment]

from tests.conftest import ARTIFACTS, PASSWORD

# Debian's Chromium; CHIMECAST_TEST_CHROMIUM points elsewhere (or nowhere, to see the skip).
CHROMIUM = os.environ.get("CHIMECAST_TEST_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--allow-loopback-in-peer-connection",
]
STEP_TIMEOUT_MS = 15_000
DESKTOP = {"width": 1100, "height": 760}
PHONE = {"width": 390, "height": 844}

_names = itertools.count(1)
# Users opened by the running test, so a failure can save what each of them saw.
OPEN_USERS: list[User] = []


def unique(prefix: str) -> str:
    return f"{prefix}{next(_names)}"


async def launch(pw: Playwright, fake_video: Path | None = None) -> Browser:
    """Debian's Chromium with fake devices; `fake_video` (a .y4m) replaces the fake camera."""
    args = list(LAUNCH_ARGS)
    if fake_video is not None:
        args.append(f"--use-file-for-fake-video-capture={fake_video}")
    return await pw.chromium.launch(executable_path=CHROMIUM, args=args)


def write_y4m(path: Path, rgb: tuple[int, int, int], frames: int = 15) -> Path:
    """A 320x240 4:2:0 Y4M clip of one solid colour (Chromium loops it as a camera)."""
    from signaling.client.media import rgb_to_yuv

    y, u, v = rgb_to_yuv(rgb)
    frame = b"FRAME\n" + bytes([y]) * 320 * 240 + bytes([u]) * 160 * 120 + bytes([v]) * 160 * 120
    with open(path, "wb") as out:
        out.write(b"YUV4MPEG2 W320 H240 F30:1 Ip A1:1 C420jpeg\n")
        out.write(frame * frames)
    return path


# Page functions are passed as function text: the page's CSP forbids eval of expressions.

# Totals of the page's inbound RTP: decoded video frames and received audio packets.
INBOUND_JS = """async () => {
  const pc = window.__chimecast.pc;
  if (!pc) return null;
  const report = await pc.getStats();
  let video = 0, audio = 0;
  report.forEach((s) => {
    if (s.type !== "inbound-rtp") return;
    if (s.kind === "video") video += s.framesDecoded || 0;
    if (s.kind === "audio") audio += s.packetsReceived || 0;
  });
  return {video, audio, state: pc.connectionState};
}"""

# Average colour of the centre of a <video>, drawn onto a canvas.
COLOUR_JS = """(id) => {
  const video = document.getElementById(id);
  if (!video || !video.videoWidth) return null;
  const canvas = document.createElement("canvas");
  canvas.width = 64; canvas.height = 48;
  const g = canvas.getContext("2d", {willReadFrequently: true});
  g.drawImage(video, 0, 0, 64, 48);
  const data = g.getImageData(16, 12, 32, 24).data;
  const sum = [0, 0, 0];
  for (let i = 0; i < data.length; i += 4) { sum[0] += data[i]; sum[1] += data[i+1]; sum[2] += data[i+2]; }
  const n = data.length / 4;
  return sum.map((x) => Math.round(x / n));
}"""

AUDIO_ENERGY_JS = """async () => {
  const report = await window.__chimecast.pc.getStats();
  let energy = 0;
  report.forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "audio") energy += s.totalAudioEnergy || 0;
  });
  return energy;
}"""

FITS_JS = """(testId) => {
  const el = document.querySelector(`[data-testid="${testId}"]`);
  const box = el.getBoundingClientRect();
  return document.documentElement.scrollWidth <= window.innerWidth
    && box.left >= 0 && box.right <= window.innerWidth
    && box.top >= 0 && box.bottom <= window.innerHeight;
}"""

VIDEO_PLAYING_JS = """(id) => {
  const v = document.getElementById(id);
  return !!v && !v.paused && v.readyState >= 2 && v.videoWidth > 0;
}"""


@dataclass
class User:
    """One person at one browser page."""

    page: Page
    base_url: str
    name: str = ""
    console: list[str] = field(default_factory=list)

    @classmethod
    async def open(cls, browser: Browser, base_url: str, name: str, phone: bool = False) -> User:
        """A new browser context (a person of their own); `phone` emulates a 390x844 phone."""
        if phone:
            options = {"viewport": PHONE, "is_mobile": True, "has_touch": True}
        else:
            options = {"viewport": DESKTOP}
        context = await browser.new_context(**options)
        page = await context.new_page()
        page.set_default_timeout(STEP_TIMEOUT_MS)
        user = cls(page, base_url, name)
        OPEN_USERS.append(user)
        page.on("console", lambda m: user.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: user.console.append(f"pageerror: {e}"))
        await page.goto(base_url + "/")
        await expect(page.get_by_test_id("screen-auth")).to_be_visible()
        return user

    def by(self, test_id: str):
        return self.page.get_by_test_id(test_id)

    async def register_and_login(self, display_name: str = "") -> None:
        page = self.page
        await page.locator("#register-username").fill(self.name)
        if display_name:
            await page.get_by_label("Display name").fill(display_name)
        await page.locator("#register-password").fill(PASSWORD)
        await self.by("register-submit").click()
        # Registering logs in: no second typing of the password.
        await expect(self.by("screen-home")).to_be_visible()
        await expect(self.by("me-name")).to_contain_text(self.name)
        await self.wait_signaling()

    async def wait_signaling(self) -> None:
        await self.page.wait_for_function("() => window.__chimecast.signaling?.ready === true")

    async def call(self, other: str) -> None:
        await self.by("search-input").fill(other)
        await self.by("search-submit").click()
        row = self.page.locator(f'[data-testid="search-result"][data-username="{other}"]')
        await row.get_by_test_id("call-button").click()
        await expect(self.by("screen-outgoing")).to_be_visible()

    async def wait_ringing(self, caller: str) -> None:
        await expect(self.by("screen-incoming")).to_be_visible()
        await expect(self.by("incoming-username")).to_have_text(f"@{caller}")

    async def wait_in_call(self) -> None:
        await expect(self.by("screen-call")).to_be_visible()
        await self.page.wait_for_function(
            "() => window.__chimecast.pc?.connectionState === 'connected'", timeout=STEP_TIMEOUT_MS
        )

    async def inbound(self) -> dict:
        return await self.page.evaluate(INBOUND_JS)

    async def wait_media_flowing(self, seconds: float = 15) -> tuple[dict, dict]:
        """Two readings of inbound counters, both non-zero, the second strictly larger."""
        first = await self._wait_inbound(lambda c: c["video"] > 0 and c["audio"] > 0, seconds)
        second = await self._wait_inbound(
            lambda c: c["video"] > first["video"] and c["audio"] > first["audio"], seconds
        )
        return first, second

    async def _wait_inbound(self, ok, seconds: float) -> dict:
        async with asyncio.timeout(seconds):
            while True:
                counters = await self.inbound()
                if counters and ok(counters):
                    return counters
                await asyncio.sleep(0.25)

    async def video_playing(self, element_id: str = "remote-video") -> bool:
        return await self.page.evaluate(VIDEO_PLAYING_JS, element_id)

    async def colour(self, element_id: str = "remote-video") -> list[int] | None:
        return await self.page.evaluate(COLOUR_JS, element_id)

    async def wait_colour(self, ok, element_id: str = "remote-video", seconds: float = 10):
        """Poll the average colour of a video until `ok(colour)`; returns it."""
        async with asyncio.timeout(seconds):
            while not ok(seen := await self.colour(element_id)):
                await asyncio.sleep(0.2)
        return seen

    async def audio_energy(self) -> float:
        """totalAudioEnergy of the inbound audio (grows with what the speaker would play)."""
        return await self.page.evaluate(AUDIO_ENERGY_JS)

    async def history_item(self, call_id: int):
        """The history row of `call_id` (after the list has refreshed)."""
        item = self.page.locator(f'[data-testid="history-item"][data-call-id="{call_id}"]')
        await expect(item).to_be_visible()
        return item

    async def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / name
        await self.page.screenshot(path=str(path))
        return path

    async def fits_screen(self, test_id: str) -> bool:
        """No sideways scrolling, and the element is entirely inside the viewport."""
        return await self.page.evaluate(FITS_JS, test_id)

    async def current_call_id(self) -> int:
        await self.page.wait_for_function("() => window.__chimecast.call?.id != null")
        return await self.page.evaluate("window.__chimecast.call.id")


def is_green(rgb) -> bool:
    """Chromium's default fake camera: shades of green, with a moving shape in the centre."""
    return rgb is not None and rgb[1] > rgb[0] + 50 and rgb[1] > rgb[2] + 50


def is_black(rgb) -> bool:
    return rgb is not None and max(rgb) < 30


def close_to(seen, expected, tolerance: int) -> bool:
    return seen is not None and all(
        abs(a - b) <= tolerance for a, b in zip(seen, expected, strict=True)
    )


async def save_failure_artifacts() -> None:
    """Screenshot and console log of every open page, into test-artifacts/ (on failure)."""
    test = os.environ.get("PYTEST_CURRENT_TEST", "test").split(" ")[0].rsplit("::", 1)[-1]
    ARTIFACTS.mkdir(exist_ok=True)
    for user in OPEN_USERS:
        stem = ARTIFACTS / f"FAILED-{test}-{user.name}"
        stem.with_suffix(".log").write_text("\n".join(user.console) + "\n")
        try:
            await user.page.screenshot(path=str(stem.with_suffix(".png")), timeout=5000)
        except Exception as exc:  # a crashed page must not hide the real failure
            print(f"no screenshot of {user.name}: {exc}")


@contextlib.asynccontextmanager
async def chromium(fake_video: Path | None = None) -> AsyncIterator[Browser]:
    """A launched Chromium, closed afterwards; if the block fails, every open page's
    screenshot and console log are saved to test-artifacts/ first."""
    async with async_playwright() as pw:
        browser = await launch(pw, fake_video)
        try:
            yield browser
        except BaseException:
            await save_failure_artifacts()
            raise
        finally:
            await browser.close()
