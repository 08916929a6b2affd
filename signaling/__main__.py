"""`chimecast-signaling` / `python -m signaling`: run the signaling daemon."""

# gevent must patch the standard library before anything else imports it.
from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402

# A daemon keeps its own metrics registry. Inherited from gunicorn's environment (one
# env file for every process), this would make prometheus_client write the daemon's
# samples into the web app's directory, to be summed into the web app's /metrics.
os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)

# The hub imports its monitor module lazily when it first runs; if a threadpool thread holds
# the import lock at that moment (the first database job importing the driver), the hub
# dies with BlockingSwitchOutError. Seen once starting on PostgreSQL; importing it now
# removes the race.
import gevent._monitor  # noqa: E402,F401

from app import create_app  # noqa: E402
from signaling.server import SignalingServer  # noqa: E402
from signaling.state.siblings import Inboxes  # noqa: E402
from signaling.workers import Supervisor  # noqa: E402

log = logging.getLogger("signaling")


def main(argv: list[str] | None = None) -> int:
    """Serve /ws and /healthz on --host/--port until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(prog="chimecast-signaling", description=main.__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8001, help="port to listen on")
    parser.add_argument(
        "--workers",
        type=_workers,
        default=1,
        help="daemon processes sharing the port (SO_REUSEPORT), e.g. one per core; more than "
        "one needs CHIMECAST_REDIS_URL (default 1)",
    )
    args = parser.parse_args(argv)
    app = create_app()  # in the parent too: a bad configuration fails once, here
    if args.workers == 1:
        SignalingServer(app, args.host, args.port).serve_forever()
        return 0
    if not app.config.get("REDIS_URL"):
        parser.error(
            f"--workers {args.workers} needs CHIMECAST_REDIS_URL: each worker is a separate "
            "daemon, and they reach each other's clients through the Redis bus"
        )

    # Before the fork, so every worker (and every restart) inherits every inbox: sibling
    # workers deliver to each other without a Redis round trip (signaling.state.siblings).
    inboxes = Inboxes(args.workers)

    def run_worker(index: int, port: int) -> int:
        links = inboxes.keep(index)
        SignalingServer(create_app(), args.host, port, worker=index, links=links).serve_forever()
        return 0

    return Supervisor(args.host, args.port, args.workers, run_worker).run()


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 256:
        raise argparse.ArgumentTypeError(
            f"expected a number of processes from 1 to 256, not {text!r}"
        )
    return value


if __name__ == "__main__":
    raise SystemExit(main())
