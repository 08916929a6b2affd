"""`chimecast-probe`: a synthetic call through the real system, for monitoring.

Two probe users (created on first use) call each other the way any client does: HTTP
`POST /call/start`, `incoming` over the signaling socket, `accept`, offer/answer through
the daemon, then aiortc media both ways, then hang up. It prints what it measured and
exits 0 when media flowed, 1 when any step failed (with the step's name), so a cron job,
a Nagios check or a Kubernetes probe can use it as is.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import asdict, dataclass, field

from signaling.client import ApiClient, ApiError, SignalingClient, SignalingClosed


@dataclass
class ProbeResult:
    ok: bool = False
    failed_step: str | None = None
    error: str | None = None
    ring_seconds: float | None = None  # POST /call/start returned -> callee's `incoming`
    setup_seconds: float | None = None  # POST /call/start -> caller's `accepted`
    connect_seconds: float | None = None  # offer sent -> ICE/DTLS connected
    first_frame_seconds: float | None = None  # offer sent -> first remote video frame
    frames: dict[str, dict[str, int]] = field(default_factory=dict)
    call_id: int | None = None


class ProbeFailed(Exception):
    def __init__(self, step: str, error: BaseException) -> None:
        super().__init__(f"{step}: {error!r}")
        self.step, self.error = step, error


async def _step(name: str, awaitable, timeout: float):
    try:
        return await asyncio.wait_for(awaitable, timeout)
    except (TimeoutError, OSError, ApiError, SignalingClosed, KeyError) as exc:
        raise ProbeFailed(name, exc) from exc


def _login(web_url: str, username: str, password: str) -> ApiClient:
    api = ApiClient(web_url)
    api.register_and_login(username, password)
    return api


async def _first_frame(peer, started: float) -> float:
    while peer.received["video"] == 0:
        await asyncio.sleep(0.01)
    return time.monotonic() - started


async def run_probe(args: argparse.Namespace, result: ProbeResult) -> None:
    from signaling.media import MediaPeer, use_loopback_only

    if args.loopback_only:
        use_loopback_only()
    timeout = args.timeout
    caller, callee = await _step(
        "login",
        asyncio.gather(
            asyncio.to_thread(_login, args.web_url, args.caller, args.password),
            asyncio.to_thread(_login, args.web_url, args.callee, args.password),
        ),
        timeout,
    )
    a, b = (
        SignalingClient(args.signaling_url, caller.token),
        SignalingClient(args.signaling_url, callee.token),
    )
    peers = []
    try:
        await _step("connect", asyncio.gather(a.connect(), b.connect()), timeout)
        started = time.monotonic()
        call = await _step("start_call", asyncio.to_thread(caller.start_call, args.callee), timeout)
        result.call_id, returned = call["id"], time.monotonic()
        await _step("ring", b.wait_for("incoming", call_id=call["id"]), timeout)
        result.ring_seconds = round(time.monotonic() - returned, 4)
        await _step("accept", b.accept(call["id"]), timeout)
        await _step("accepted", a.wait_for("accepted", call_id=call["id"]), timeout)
        result.setup_seconds = round(time.monotonic() - started, 4)
        ice = await _step("ice_servers", asyncio.to_thread(caller.ice_servers), timeout)
        peers = [
            MediaPeer(a, call["id"], args.callee, ice),
            MediaPeer(b, call["id"], args.caller, ice),
        ]
        await peers[1].answer()
        offered = time.monotonic()
        await _step("offer", peers[0].offer(), timeout)
        first_frame = asyncio.ensure_future(_first_frame(peers[0], offered))
        result.connect_seconds = round(
            await _step("connect_media", peers[0].wait_connected(timeout), timeout), 4
        )
        result.first_frame_seconds = round(await _step("first_frame", first_frame, timeout), 4)
        await _step(
            "media",
            asyncio.gather(*(p.wait_media(args.frames, args.frames) for p in peers)),
            timeout,
        )
        result.frames = {args.caller: dict(peers[0].received), args.callee: dict(peers[1].received)}
        await _step("hangup", a.hangup(call["id"]), timeout)
        await _step("ended", b.wait_for("ended", call_id=call["id"]), timeout)
        result.ok = True
    finally:
        for peer in peers:
            await peer.close()
        if result.call_id is not None and not result.ok:
            try:
                await asyncio.to_thread(caller.end_call, result.call_id)
            except (ApiError, OSError):
                pass  # best effort: the probe already failed
        await asyncio.gather(a.close(), b.close(), return_exceptions=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="chimecast-probe", description=__doc__.split("\n\n")[0])
    parser.add_argument("--web-url", default="http://127.0.0.1:8000")
    parser.add_argument("--signaling-url", default="ws://127.0.0.1:8001/ws")
    parser.add_argument("--caller", default="probe-caller")
    parser.add_argument("--callee", default="probe-callee")
    parser.add_argument(
        "--password", default=None, help="probe users' password (env CHIMECAST_PROBE_PASSWORD)"
    )
    parser.add_argument(
        "--frames", type=int, default=15, help="frames of each kind each side must receive"
    )
    parser.add_argument("--timeout", type=float, default=15, help="seconds allowed for each step")
    parser.add_argument(
        "--loopback-only", action="store_true", help="ICE on 127.0.0.1 only (local tests)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.password is None:
        import os

        args.password = os.environ.get("CHIMECAST_PROBE_PASSWORD")
    if not args.password:
        parser.error("give --password or set CHIMECAST_PROBE_PASSWORD")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = ProbeResult()
    try:
        asyncio.run(run_probe(args, result))
    except ProbeFailed as exc:
        result.failed_step, result.error = exc.step, repr(exc.error)
    if args.json:
        print(json.dumps(asdict(result)))
    elif result.ok:
        print(
            f"OK call {result.call_id}: ring {result.ring_seconds}s, setup {result.setup_seconds}s, "
            f"connected {result.connect_seconds}s, first frame {result.first_frame_seconds}s, "
            f"frames {result.frames}"
        )
    else:
        print(f"FAILED at {result.failed_step}: {result.error}", file=sys.stderr)
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
