"""One of several OS processes hammering the same SQLite file through the web app.

Run as `python -m tests.app.writer_process <database url> <prefix> <go file> <seconds>`.
Prints "ready" once the app is built, waits until the go file exists (so every process
starts writing at the same moment), then for `seconds` repeats: register two users, log
both in, start a call, accept it, end it - every request through the app's WSGI stack. On a
slow (loaded) machine it goes on past `seconds` until MIN_CALLS calls are done, for at most
`seconds` * OVERTIME: a process starved by the others still stops short and is reported.
Prints one JSON line: what it created and every failure it saw.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from sqlalchemy import event

from app import create_app
from app.extensions import db

PASSWORD = "correct horse battery staple"
MIN_CALLS = 5
OVERTIME = 10


def main(url: str, prefix: str, go_file: Path, seconds: float) -> dict:
    app = create_app(
        {
            "ENV": "testing",
            "SQLALCHEMY_DATABASE_URI": url,
            "ARGON2_TIME_COST": 1,
            "ARGON2_MEMORY_KIB": 1024,
            "CALL_START_LIMIT": 1_000_000,
            "REGISTRATION_LIMIT": 1_000_000,  # every process registers from 127.0.0.1
        }
    )
    locked: list[str] = []
    with app.app_context():

        @event.listens_for(db.engine, "handle_error")
        def _count(context) -> None:
            locked.append(str(context.original_exception))

    client = app.test_client()
    report = {"users": [], "calls": [], "failures": [], "db_errors": locked}

    def request(method: str, path: str, expect: int, **kwargs):
        response = client.open(path, method=method, **kwargs)
        if response.status_code != expect:
            report["failures"].append(
                [method, path, response.status_code, response.get_data(as_text=True)]
            )
            return None
        return response.json

    print("ready", flush=True)
    while not go_file.exists():
        time.sleep(0.005)
    began = time.time()
    i = 0
    while _keep_going(time.time() - began, seconds, len(report["calls"])):
        caller, callee = f"{prefix}a{i}", f"{prefix}b{i}"
        i += 1
        tokens = []
        for name in (caller, callee):
            if request("POST", "/register", 201, json={"username": name, "password": PASSWORD}):
                report["users"].append(name)
            login = request("POST", "/login", 200, json={"username": name, "password": PASSWORD})
            tokens.append({"Authorization": f"Bearer {login['token']}"} if login else None)
        if None in tokens:
            continue
        started = request("POST", "/call/start", 201, json={"callee": callee}, headers=tokens[0])
        if started is None:
            continue
        call_id = started["call"]["id"]
        request("POST", "/call/accept", 200, json={"call_id": call_id}, headers=tokens[1])
        ended = request("POST", "/call/end", 200, json={"call_id": call_id}, headers=tokens[0])
        if ended is not None and ended["end_reason"] == "hangup":
            report["calls"].append(call_id)
    with app.app_context():
        db.engine.dispose()
    return report


def _keep_going(elapsed: float, seconds: float, calls: int) -> bool:
    if elapsed < seconds:
        return True
    return calls < MIN_CALLS and elapsed < seconds * OVERTIME


if __name__ == "__main__":
    url, prefix, go_file, seconds = sys.argv[1:5]
    print(json.dumps(main(url, prefix, Path(go_file), float(seconds))))
