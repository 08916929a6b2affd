"""`chimecast-probe`: a synthetic call through the real system, for monitoring.

Two existing probe users (`flask users create --probe probe-caller`, the same for
`probe-callee`) log in and call each other the way any client does: HTTP
`POST /call/start`, `incoming` over the signaling socket, `accept`, offer/answer through
the daemon, then aiortc media both ways, then hang up. Their calls are marked as probes:
no webhooks, not in `flask calls stats` nor in the call metrics. It prints what it
measured and exits 0 when media flowed, or the exit code of the step that failed
(EXIT_CODES), so a cron job, a Nagios check or a Kubernetes probe can use it as is.
With `--each-daemon URL...` it makes one call through each daemon, directly.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import sys
import time
from dataclasses import asdict, dataclass, field

from signaling.client.api import ApiClient, ApiError
from signaling.client.socket import SignalingClient, SignalingClosed

# Exit status by failed step (2 is a usage error, as for any command).
EXIT_CODES = {
    "login": 3,
    "connect": 4,
    "start_call": 5, "ring": 5,
    "accept": 6, "accepted": 6,
    "ice_servers": 7, "offer": 7, "connect_media": 7, "first_frame": 7, "media": 7,
    "hangup": 8, "ended": 8,
}  # fmt: skip
EPILOG = (
    "exit status: 0 ok, 2 usage, 3 login, 4 connect (socket or hello), 5 start_call/ring, "
    "6 accept, 7 media, 8 hangup, 1 anything else"
)


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
    signaling_url: str | None = None


class ProbeFailed(Exception):
    def __init__(self, step: str, error: BaseException) -> None:
        super().__init__(f"{step}: {error!r}")
        self.step, self.error = step, error


async def _step(name: str, awaitable, timeout: float):
    try:
        return await asyncio.wait_for(awaitable, timeout)
    except (TimeoutError, OSError, ApiError, SignalingClosed, KeyError) as exc:
        raise ProbeFailed(name, exc) from exc


def _login(web_url: str, username: str, password: str, context: ssl.SSLContext | None) -> ApiClient:
    """Log in as an existing probe user (never registers: registration may be closed)."""
    api = ApiClient(web_url, ssl_context=context)
    try:
        api.login(username, password)
    except ApiError as exc:
        if exc.status == 401:
            raise ApiError(exc.status, {"error": exc.code, "message": (
                f"{username} cannot log in: create the probe users once with "
                f"'flask users create --probe {username}'"
            )}) from exc  # fmt: skip
        raise
    return api


async def _first_frame(peer, started: float) -> float:
    while peer.received["video"] == 0:
        await asyncio.sleep(0.01)
    return time.monotonic() - started


async def run_probe(args: argparse.Namespace, result: ProbeResult) -> None:
    """One call through `result.signaling_url`."""
    from signaling.client.media import MediaPeer, use_loopback_only

    if args.loopback_only:
        use_loopback_only()
    timeout = args.timeout
    caller, callee = await _step(
        "login",
        asyncio.gather(
            asyncio.to_thread(_login, args.web_url, args.caller, args.password, args.ssl),
            asyncio.to_thread(_login, args.web_url, args.callee, args.password, args.ssl),
        ),
        timeout,
    )
    url = result.signaling_url or args.signaling_url
    a, b = (
        SignalingClient(url, caller.token, ssl_context=args.ssl),
        SignalingClient(url, callee.token, ssl_context=args.ssl),
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
    parser = argparse.ArgumentParser(
        prog="chimecast-probe", description=__doc__.split("\n\n")[0], epilog=EPILOG
    )
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
    parser.add_argument("--json", action="store_true", help="print one JSON object per call")
    parser.add_argument(
        "--ca-file", help="PEM file of the CA that signed the servers' certificates (private CA)"
    )
    parser.add_argument(
        "--each-daemon",
        nargs="+",
        metavar="URL",
        help="make one call through each of these daemon URLs (ws://host:port/ws), not nginx",
    )
    args = parser.parse_args(argv)
    args.ssl = None
    if args.ca_file:
        try:
            args.ssl = ssl.create_default_context(cafile=args.ca_file)
        except (OSError, ssl.SSLError) as exc:
            parser.error(f"--ca-file {args.ca_file}: {exc}")
    if args.password is None:
        import os

        args.password = os.environ.get("CHIMECAST_PROBE_PASSWORD")
    if not args.password:
        parser.error("give --password or set CHIMECAST_PROBE_PASSWORD")
    return args


def _report(args: argparse.Namespace, result: ProbeResult) -> None:
    where = f" via {result.signaling_url}" if args.each_daemon else ""
    if args.json:
        print(json.dumps(asdict(result)), flush=True)
    elif result.ok:
        print(
            f"OK call {result.call_id}{where}: ring {result.ring_seconds}s, "
            f"setup {result.setup_seconds}s, connected {result.connect_seconds}s, "
            f"first frame {result.first_frame_seconds}s, frames {result.frames}",
            flush=True,
        )
    else:
        print(f"FAILED at {result.failed_step}{where}: {result.error}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Probe once (or once per daemon); the exit status is the first failed step's."""
    args = parse_args(argv)
    status = 0
    for url in args.each_daemon or [args.signaling_url]:
        result = ProbeResult(signaling_url=url)
        try:
            asyncio.run(run_probe(args, result))
        except ProbeFailed as exc:
            result.failed_step, result.error = exc.step, repr(exc.error)
        _report(args, result)
        if not result.ok and not status:
            status = EXIT_CODES.get(result.failed_step or "", 1)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
