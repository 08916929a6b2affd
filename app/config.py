"""Settings read from `CHIMECAST_*` environment variables, with documented defaults.

Every setting has one line in `SETTINGS`: its Flask config key, its type and its default.
`load_settings()` turns an environment into a config dict; `create_app()` layers a test
config on top of it. The README's configuration table mirrors this list.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson

log = logging.getLogger(__name__)

PREFIX = "CHIMECAST_"
DEV_SECRET_NOTICE = (
    "No CHIMECAST_SECRET_KEY set: generated a random one for this process (development)."
)


class ConfigError(RuntimeError):
    """Raised when the configuration cannot be used (e.g. production without a secret key)."""


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


@dataclass(frozen=True)
class Setting:
    key: str
    parse: Callable[[str], Any]
    default: Any
    help: str


def _origin(raw: str) -> str:
    """`scheme://host[:port]` of an http(s) URL, lower-cased, default port and `/` dropped."""
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("expected an http:// or https:// URL such as https://chime.example")
    if parts.path.strip("/") or parts.query or parts.fragment or parts.username:
        raise ValueError("give the origin only (scheme, host and port), no path")
    default_port = {"http": 80, "https": 443}[parts.scheme]
    port = "" if parts.port in (None, default_port) else f":{parts.port}"
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}{port}"


def _registration(raw: str) -> str:
    value = raw.strip().lower()
    if value not in ("open", "closed"):
        raise ValueError("expected open or closed")
    return value


def _choice(*allowed: str, upper: bool = False) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().upper() if upper else raw.strip().lower()
        if value not in allowed:
            raise ValueError("expected one of " + ", ".join(allowed))
        return value

    return parse


def _janus_nodes(raw: str) -> list[dict[str, str]]:
    """`API_URL|ADMIN_URL` per node, comma-separated; the admin secret is the admin URL's
    password (`http://:SECRET@10.0.0.5:7088/admin`), kept out of the URL ChimeCast calls."""
    nodes = []
    for item in _list(raw):
        api, sep, admin = item.partition("|")
        api_parts, admin_parts = urlsplit(api.strip()), urlsplit(admin.strip())
        for parts in (api_parts, admin_parts):
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(
                    "each node is API_URL|ADMIN_URL, e.g. "
                    "https://sfu1.example/janus|http://:SECRET@10.0.0.5:7088/admin"
                )
        if not sep or not admin_parts.password:
            raise ValueError("the admin URL must carry the admin secret: http://:SECRET@host/admin")
        netloc = admin_parts.hostname + (f":{admin_parts.port}" if admin_parts.port else "")
        nodes.append(
            {
                "api": api.strip().rstrip("/"),
                "admin": admin_parts._replace(netloc=netloc).geturl().rstrip("/"),
                "admin_secret": admin_parts.password,
            }
        )
    return nodes


def _at_least_one(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise ValueError("must be at least 1")
    return value


SETTINGS: tuple[Setting, ...] = (
    Setting("ENV", str, "development", "development, production or testing"),
    Setting(
        "SECRET_KEY",
        str,
        None,
        "required in production and with an SFU; the Janus room secrets and seat tokens are "
        "derived from it (changing it strands open SFU meetings)",
    ),
    Setting("DATABASE_URL", str, None, "SQLAlchemy URL; default sqlite:///<instance>/chimecast.db"),
    Setting("TOKEN_IDLE_TIMEOUT", int, 7 * 24 * 3600, "seconds a session token may go unused"),
    Setting("TOKEN_LIFETIME", int, 30 * 24 * 3600, "absolute lifetime of a session token, seconds"),
    Setting("PASSWORD_MIN_LENGTH", int, 8, "shortest accepted password"),
    Setting("PASSWORD_MAX_LENGTH", int, 256, "longest accepted password (never truncated)"),
    Setting("ARGON2_TIME_COST", int, 2, "Argon2id iterations (OWASP: 2 with 19 MiB)"),
    Setting("ARGON2_MEMORY_KIB", int, 19456, "Argon2id memory in KiB"),
    Setting("ARGON2_PARALLELISM", int, 1, "Argon2id lanes"),
    Setting("LOGIN_WINDOW", int, 900, "seconds over which failed logins are counted"),
    Setting("LOGIN_MAX_FAILURES_PER_ACCOUNT", int, 5, "failed logins per account per window"),
    Setting("LOGIN_MAX_FAILURES_PER_IP", int, 20, "failed logins per client IP per window"),
    Setting(
        "REGISTRATION", _registration, "open", "open: anyone may POST /register; closed: CLI only"
    ),
    Setting("REGISTRATION_LIMIT", int, 10, "accounts one client IP may register per window"),
    Setting("REGISTRATION_WINDOW", int, 3600, "seconds over which REGISTRATION_LIMIT counts"),
    Setting("CALL_START_LIMIT", int, 10, "call starts allowed per user per CALL_START_WINDOW"),
    Setting("CALL_START_WINDOW", int, 60, "seconds for CALL_START_LIMIT"),
    Setting("RING_TIMEOUT", int, 45, "seconds an unanswered call rings before it is missed"),
    Setting("RECONNECT_GRACE", int, 30, "seconds a dropped participant has to come back"),
    Setting("TRUSTED_PROXIES", int, 0, "number of proxies whose X-Forwarded-For is trusted"),
    Setting("ALLOWED_ORIGINS", _list, [], "browser origins allowed on the WebSocket (comma list)"),
    Setting(
        "PUBLIC_URL",
        _origin,
        "",
        "the web app's public origin (https://host[:port]); required in production",
    ),
    Setting("SIGNALING_URL", str, "", "WebSocket URL the web client uses; default PUBLIC_URL /ws"),
    Setting("STUN_URLS", _list, [], "STUN URLs handed to clients (comma list)"),
    Setting("TURN_URLS", _list, [], "TURN URLs handed to clients (comma list)"),
    Setting("TURN_SECRET", str, "", "coturn static-auth-secret; enables TURN credentials"),
    Setting("TURN_TTL", int, 3600, "lifetime of TURN credentials, seconds"),
    Setting("MAX_CONTENT_LENGTH", int, 16 * 1024, "largest accepted request body, bytes"),
    Setting("REDIS_URL", str, "", "Redis URL; enables the multi-daemon bus"),
    Setting(
        "REDIS_NAMESPACE",
        str,
        "",
        "prefix of this deployment's Redis channel; default a hash of the database URL",
    ),
    Setting("MAX_MESSAGE_BYTES", int, 64 * 1024, "largest WebSocket message read (else 1009)"),
    Setting("HELLO_TIMEOUT", float, 5.0, "seconds a new WebSocket has to send hello (else 4001)"),
    Setting("HEARTBEAT_INTERVAL", float, 20.0, "seconds of silence before the daemon pings"),
    Setting("HEARTBEAT_TIMEOUT", float, 45.0, "seconds of silence before a WebSocket is dropped"),
    Setting("WRITE_TIMEOUT", float, 10.0, "seconds one frame write may take (else 4009)"),
    Setting("MAX_CONNECTIONS_PER_USER", int, 10, "WebSockets per user per daemon (else 4004)"),
    Setting("MESSAGE_RATE", float, 50.0, "messages per second a WebSocket may send, sustained"),
    Setting("MESSAGE_BURST", int, 100, "messages a WebSocket may send at once"),
    Setting("FRAMES_PER_MESSAGE", int, 4, "frames of any kind per message allowed (else 4008)"),
    Setting("MAX_FRAGMENTS", int, 64, "frames one message may be sliced into (else 1008)"),
    Setting(
        "LISTEN_BACKLOG",
        _at_least_one,
        16384,
        "signaling accept queue (connections not yet accepted); the kernel caps it at "
        "net.core.somaxconn",
    ),
    Setting(
        "OUTBOX_FALLBACK_INTERVAL",
        float,
        1.0,
        "seconds between outbox reads when no wake-up comes from the database",
    ),
    Setting(
        "OUTBOX_WAKE",
        _choice("auto", "off"),
        "auto",
        "auto: read the outbox on PostgreSQL NOTIFY / SQLite WAL changes; off: fallback poll only",
    ),
    Setting("HANDSHAKE_TIMEOUT", float, 10.0, "seconds an HTTP upgrade request has to arrive"),
    Setting("NODE_ID", str, "", "this signaling daemon's id; default <hostname>:<port>"),
    Setting("NODE_REFRESH_INTERVAL", float, 2.0, "seconds between a daemon's liveness beats"),
    Setting(
        "NODE_STALE_AFTER",
        float,
        6.0,
        "seconds without a beat after which a daemon counts as dead (>= 2 beats)",
    ),
    Setting(
        "DB_THREADS",
        _at_least_one,
        None,
        "threads of a signaling daemon that run its database work; default 2 on SQLite, else 4",
    ),
    Setting("DB_CONNECT_TIMEOUT", int, 5, "seconds to wait for a new PostgreSQL connection"),
    Setting(
        "DB_STATEMENT_TIMEOUT",
        int,
        30000,
        "ms a PostgreSQL statement may run before the server cancels it (0: no limit)",
    ),
    Setting("DB_LOCK_TIMEOUT", int, 10000, "ms a PostgreSQL statement may wait for a lock"),
    Setting("DB_BUSY_TIMEOUT", int, 5000, "ms a SQLite write waits for another's lock"),
    Setting(
        "READYZ_TIMEOUT", float, 2.0, "seconds /readyz waits for the database before saying 503"
    ),
    Setting(
        "MEETING_DEFAULT_SIZE",
        int,
        6,
        "participants a meeting admits unless its host says otherwise",
    ),
    Setting(
        "MEETING_MAX_SIZE",
        int,
        12,
        "hard cap on participants per meeting (mesh: each sends n-1 streams)",
    ),
    Setting(
        "MEETING_SFU_MAX_SIZE",
        int,
        50,
        "hard cap on participants of a meeting through the SFU (Janus)",
    ),
    Setting(
        "JANUS_URLS",
        _janus_nodes,
        [],
        "Janus nodes for large meetings, comma list of API_URL|ADMIN_URL; the admin URL "
        "carries the admin secret: https://sfu1.example/janus|http://:SECRET@10.0.0.5:7088/admin",
    ),
    Setting(
        "JANUS_ADMIN_KEY",
        str,
        "",
        "the VideoRoom plugin's admin_key (needed to create rooms when Janus sets one)",
    ),
    Setting(
        "JANUS_JS",
        str,
        "/usr/share/javascript/janus-gateway/janus.js",
        "the Janus browser library (Debian libjs-janus-gateway) the web client loads",
    ),
    Setting(
        "JANUS_HEALTH_INTERVAL",
        float,
        5.0,
        "seconds a Janus node's health check result is trusted before it is checked again",
    ),
    Setting(
        "MEETING_MAX_DENIALS", int, 3, "times a user may be denied entry before joining is refused"
    ),
    Setting("WEBHOOK_URLS", _list, [], "endpoints that receive signed call events (comma list)"),
    Setting("WEBHOOK_SECRET", str, "", "HMAC-SHA256 key for webhook signatures"),
    Setting("WEBHOOK_MAX_ATTEMPTS", int, 8, "deliveries tried before a webhook is marked failed"),
    Setting("WEBHOOK_TIMEOUT", int, 5, "seconds to wait for a webhook endpoint"),
    Setting(
        "LOG_LEVEL",
        _choice("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", upper=True),
        "INFO",
        "DEBUG, INFO, WARNING, ERROR or CRITICAL (both processes)",
    ),
    Setting(
        "LOG_FORMAT",
        _choice("keyvalue", "json"),
        "keyvalue",
        "keyvalue (one key=value line per event) or json (one object per line)",
    ),
)


def load_settings(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Read every setting from `environ` (default `os.environ`) into Flask config keys.

    Raises ConfigError when a value does not parse.
    """
    environ = os.environ if environ is None else environ
    config: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = environ.get(PREFIX + setting.key)
        if raw is None or raw == "":
            config[setting.key] = setting.default
            continue
        try:
            config[setting.key] = setting.parse(raw)
        except ValueError as exc:
            raise ConfigError(f"{PREFIX}{setting.key}={raw!r} is not valid: {exc}") from exc
    return config


def finalize(config: dict[str, Any], instance_path: str) -> None:
    """Fill derived defaults and refuse unsafe production settings (in place)."""
    default_url = f"sqlite:///{os.path.join(instance_path, 'chimecast.db')}"
    url = config.get("SQLALCHEMY_DATABASE_URI") or config.get("DATABASE_URL") or default_url
    config["SQLALCHEMY_DATABASE_URI"] = normalize_database_url(url)
    options = config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
    # JSON columns (outbox event data, call stats) through orjson: every call transition
    # writes an event and the daemon reads each one back.
    options.setdefault("json_serializer", _json_text)
    options.setdefault("json_deserializer", orjson.loads)
    on_sqlite = config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")
    if config.get("DB_THREADS") is None:
        # SQLite writes take turns (app/sqlite_writer.py), so beyond two threads (one writing,
        # one reading or waiting) more only contend for the GIL and the writer lock: 1,000
        # call setups at once took 2.16-2.22 s with 2 threads against 2.27-2.63 s with 4.
        # PostgreSQL works on several transactions at once, and waiting for it releases the GIL.
        config["DB_THREADS"] = 2 if on_sqlite else 4
    connect_args = options.setdefault("connect_args", {})
    if on_sqlite:
        connect_args.setdefault("timeout", _setting(config, "DB_BUSY_TIMEOUT") / 1000)
    else:
        # Test each pooled connection before use, so a database restart costs one failed
        # request at most instead of a restart of every process.
        options.setdefault("pool_pre_ping", True)
        options.setdefault("pool_recycle", 1800)
        connect_args.update({**postgres_timeouts(config), **connect_args})
    # The largest meeting anyone may ask for: through the SFU when one is configured.
    config["MEETING_SIZE_LIMIT"] = (
        _setting(config, "MEETING_SFU_MAX_SIZE")
        if config.get("JANUS_URLS")
        else _setting(config, "MEETING_MAX_SIZE")
    )
    if not config.get("SECRET_KEY"):
        if config.get("ENV") == "production":
            raise ConfigError("CHIMECAST_SECRET_KEY must be set in production.")
        if config.get("JANUS_URLS") and config.get("ENV") != "testing":
            # The Janus room secrets and seat tokens are derived from it (app/janus/rooms.py):
            # a random key per process would give the web app and the daemon different ones.
            raise ConfigError(
                "CHIMECAST_SECRET_KEY must be set with CHIMECAST_JANUS_URLS: every process "
                "derives the same Janus credentials from it."
            )
        config["SECRET_KEY"] = secrets.token_hex(32)
        # Not a warning: every `flask` command would print it (tokens live in the database,
        # so a per-process key costs nothing in development).
        log.debug(DEV_SECRET_NOTICE)
    elif config.get("ENV") == "production" and len(config["SECRET_KEY"]) < 32:
        raise ConfigError("CHIMECAST_SECRET_KEY must be at least 32 characters in production.")
    if config.get("ENV") == "production" and not config.get("PUBLIC_URL"):
        # Else the signaling URL and the CSP would be built from the request's Host header.
        raise ConfigError(
            "CHIMECAST_PUBLIC_URL must be set in production (e.g. https://chime.example): the "
            "signaling URL and the allowed WebSocket origin are built from it."
        )


def _setting(config: Mapping[str, Any], key: str) -> Any:
    value = config.get(key)
    return next(s.default for s in SETTINGS if s.key == key) if value is None else value


def postgres_timeouts(config: Mapping[str, Any]) -> dict[str, Any]:
    """psycopg connection arguments that keep a dead or stuck database from hanging a process.

    connect_timeout bounds a new connection; statement_timeout and lock_timeout make the
    server cancel a slow statement; TCP keepalives and tcp_user_timeout make the kernel give
    up on a server that vanished (its host is down, or the network drops every packet)
    instead of waiting for its reply for ever.
    """
    statement, lock = _setting(config, "DB_STATEMENT_TIMEOUT"), _setting(config, "DB_LOCK_TIMEOUT")
    return {
        "connect_timeout": _setting(config, "DB_CONNECT_TIMEOUT"),
        "options": f"-c statement_timeout={statement} -c lock_timeout={lock}",
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 3,
        "tcp_user_timeout": 30000,
    }


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


def normalize_database_url(url: str) -> str:
    """Map `postgres://` and `postgresql://` (Heroku style) to the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def markdown_table() -> str:
    """The README's configuration table, generated from SETTINGS (`python -m app.config`)."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for setting in SETTINGS:
        default = setting.default
        shown = "-" if default in (None, "", []) else f"`{default}`"
        lines.append(f"| `{PREFIX}{setting.key}` | {shown} | {setting.help} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
