"""The shipped deploy/nginx.conf, run by a real nginx in front of real gunicorn and a daemon.

Only ports, certificate paths and upstream addresses of the shipped file are replaced (each
replacement must match exactly once, so the file cannot drift from what is tested); every
proxy_set_header line is tested as shipped. Clients connect from chosen loopback addresses
(127.0.0.2, 127.0.0.3, ...) to prove the app counts what nginx saw, never what a client wrote.
"""

from __future__ import annotations

import http.client
import json
import os
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from app.config import normalize_database_url
from app.devstack import Stack, free_port, stop_process
from tests.conftest import PASSWORD, database_url_for
from tests.scale.conftest import require_binary

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

SHIPPED = Path(__file__).resolve().parents[2] / "deploy" / "nginx.conf"
WRONG = "not the right password"


def render(shipped: str, web: int, daemon: int, http_port: int, https_port: int, certs: Path):
    """The shipped file with this test's ports, upstreams and certificate, nothing else."""
    replacements = {
        "server 127.0.0.1:8000;": f"server 127.0.0.1:{web};",
        "server 127.0.0.1:8001 ": f"server 127.0.0.1:{daemon} ",
        "server 127.0.0.1:8002 ": f"server 127.0.0.1:{daemon} ",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen 443 ssl backlog=16384;": f"listen 127.0.0.1:{https_port} ssl backlog=16384;",
        "/etc/ssl/chimecast/fullchain.pem": str(certs / "cert.pem"),
        "/etc/ssl/chimecast/privkey.pem": str(certs / "key.pem"),
    }
    for old, new in replacements.items():
        assert shipped.count(old) == 1, f"deploy/nginx.conf no longer has {old!r} once"
        shipped = shipped.replace(old, new)
    return shipped


def self_signed(directory: Path) -> None:
    subprocess.run(
        [require_binary("openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days",
         "1", "-subj", "/CN=127.0.0.1", "-keyout", str(directory / "key.pem"),
         "-out", str(directory / "cert.pem")],
        check=True, capture_output=True,
    )  # fmt: skip


def main_config(directory: Path, site: Path) -> str:
    temp = {name: directory / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir(exist_ok=True)
    user = "user root;" if os.geteuid() == 0 else ""  # workers must read the temp folders
    return f"""
{user}
worker_processes 1;
pid {directory / "nginx.pid"};
error_log {directory / "error.log"} info;
events {{ worker_connections 256; }}
http {{
    access_log {directory / "access.log"};
    client_body_temp_path {temp["body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
    include {site};
}}
"""


@dataclass
class Proxied:
    stack: Stack
    https_port: int
    http_port: int

    @property
    def public_origin(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    def request(
        self,
        method: str,
        path: str,
        body: dict | None = None,
        source: str = "127.0.0.1",
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict, dict]:
        """(status, headers, JSON body) of one request through nginx's TLS port, sent from
        the loopback address `source`."""
        context = ssl._create_unverified_context()
        connection = http.client.HTTPSConnection(
            "127.0.0.1", self.https_port, timeout=20, context=context, source_address=(source, 0)
        )
        try:
            payload = json.dumps(body) if body is not None else None
            sent = {"Content-Type": "application/json", **(headers or {})}
            connection.request(method, path, body=payload, headers=sent)
            response = connection.getresponse()
            raw = response.read()
            data = (
                json.loads(raw) if response.getheader("Content-Type") == "application/json" else {}
            )
            return response.status, dict(response.getheaders()), data
        finally:
            connection.close()

    def audit(self, where: str, **params: str) -> list[dict]:
        engine = create_engine(normalize_database_url(self.stack.database_url))
        try:
            with engine.connect() as connection:
                query = text(
                    f"SELECT kind, username, ip FROM auth_events WHERE {where} ORDER BY id"
                )
                return [dict(row._mapping) for row in connection.execute(query, params)]
        finally:
            engine.dispose()


@pytest.fixture(scope="module")
def proxied(tmp_path_factory) -> Iterator[Proxied]:
    binary = require_binary("nginx")
    directory = tmp_path_factory.mktemp("nginx")
    self_signed(directory)
    http_port, https_port = free_port(), free_port()
    env = {
        "CHIMECAST_ENV": "development",
        "CHIMECAST_ARGON2_TIME_COST": "1",
        "CHIMECAST_ARGON2_MEMORY_KIB": "1024",
        "CHIMECAST_TRUSTED_PROXIES": "1",  # nginx is the one proxy, as the README says
        # Unset, so the URLs the app hands out come from what nginx forwards (Host, Proto).
        "CHIMECAST_PUBLIC_URL": "",
        "CHIMECAST_SIGNALING_URL": "",
        "CHIMECAST_ALLOWED_ORIGINS": f"https://127.0.0.1:{https_port}",
    }
    url = database_url_for(directory)
    with Stack(url, extra_env=env, log_dir=directory / "logs") as stack:
        daemon = int(stack.signaling_url.rsplit(":", 1)[1].split("/")[0])
        site = directory / "chimecast.conf"
        site.write_text(
            render(SHIPPED.read_text(), stack.web_port, daemon, http_port, https_port, directory)
        )
        config = directory / "nginx.conf"
        config.write_text(main_config(directory, site))
        process = subprocess.Popen(
            [binary, "-p", str(directory), "-c", str(config), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        try:
            proxied = Proxied(stack, https_port, http_port)
            deadline = time.monotonic() + 15
            while True:
                try:
                    if proxied.request("GET", "/healthz")[0] == 200:
                        break
                except OSError:
                    pass
                assert process.poll() is None, (directory / "error.log").read_text()
                assert time.monotonic() < deadline, "nginx did not come up"
                time.sleep(0.1)
            yield proxied
        finally:
            stop_process(process)


def login(proxied: Proxied, username: str, password: str, source: str, **headers: str) -> int:
    body = {"username": username, "password": password}
    return proxied.request("POST", "/login", body, source=source, headers=headers)[0]


def test_a_forged_x_forwarded_for_is_never_trusted(proxied):
    statuses = [
        login(proxied, f"ghost{i}", WRONG, "127.0.0.4", **{"X-Forwarded-For": f"198.51.100.{i}"})
        for i in range(22)
    ]
    assert statuses == [401] * 20 + [429] * 2, "one real address, whatever the header claimed"
    logged = proxied.audit("username LIKE 'ghost%'")
    assert {row["ip"] for row in logged} == {"127.0.0.4"}
    assert [row["kind"] for row in logged].count("login_failure") == 20


def test_two_loopback_clients_are_counted_apart(proxied):
    carol = {"username": "carol", "password": PASSWORD}
    assert proxied.request("POST", "/register", carol, source="127.0.0.3")[0] == 201
    # 127.0.0.2 guesses carol's password 5 times, then 15 other names: its IP is spent.
    statuses = [login(proxied, "carol", WRONG, "127.0.0.2") for _ in range(5)]
    statuses += [login(proxied, f"stranger{i}", WRONG, "127.0.0.2") for i in range(15)]
    assert statuses == [401] * 20
    assert login(proxied, "carol", PASSWORD, "127.0.0.2") == 429
    # carol herself, at 127.0.0.3, is neither the attacker's IP nor locked out by it.
    assert login(proxied, "carol", PASSWORD, "127.0.0.3") == 200
    logged = proxied.audit("username = :name", name="carol")
    assert [(row["kind"], row["ip"]) for row in logged] == [
        ("register", "127.0.0.3"),
        *[("login_failure", "127.0.0.2")] * 5,
        ("login_throttled", "127.0.0.2"),
        ("login_success", "127.0.0.3"),
    ]


def test_client_config_through_nginx_is_the_public_wss_url(proxied):
    status, headers, body = proxied.request("GET", "/client-config")
    assert status == 200
    assert body["signaling_url"] == f"wss://127.0.0.1:{proxied.https_port}/ws"
    assert headers["Cache-Control"] == "no-store"
    assert headers["X-Content-Type-Options"] == "nosniff"
    page = proxied.request("GET", "/")[1]
    assert f"wss://127.0.0.1:{proxied.https_port}" in page["Content-Security-Policy"]


def test_plain_http_is_sent_to_https(proxied):
    connection = http.client.HTTPConnection("127.0.0.1", proxied.http_port, timeout=10)
    try:
        connection.request("GET", "/client-config")
        response = connection.getresponse()
        assert response.status == 301
        assert response.getheader("Location").startswith("https://127.0.0.1")
    finally:
        connection.close()


def test_websocket_upgrade_works_through_nginx(proxied):
    dave = {"username": "dave", "password": PASSWORD}
    assert proxied.request("POST", "/register", dave, source="127.0.0.5")[0] == 201
    token = proxied.request("POST", "/login", dave, source="127.0.0.5")[2]["token"]
    url = proxied.request("GET", "/client-config")[2]["signaling_url"]
    context = ssl._create_unverified_context()
    with connect(url, ssl=context, origin=proxied.public_origin, open_timeout=10) as socket:
        socket.send(json.dumps({"type": "hello", "token": token, "id": 1}))
        welcome = json.loads(socket.recv(timeout=10))
    assert welcome["type"] == "welcome" and welcome["user"]["username"] == "dave"
    with pytest.raises(InvalidStatus) as refused:
        connect(url, ssl=context, origin="https://evil.example", open_timeout=10)
    assert refused.value.response.status_code == 403
