"""Two new users make one call through a running ChimeCast, as the web client would.

Run by path with any interpreter that has ChimeCast installed (`python one_call.py
WEB_URL`): it imports only the installed `signaling.client`, asks /client-config for the
socket URL (as the web page does), connects with the page's Origin, rings, accepts, hangs
up, and prints one JSON line (the call id, the socket URL, where the client came from).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sys

from signaling import client
from signaling.client.api import ApiClient
from signaling.client.socket import SignalingClient

PASSWORD = "correct horse battery staple"


async def one_call(web_url: str) -> dict:
    suffix = secrets.token_hex(3)
    caller, callee = ApiClient(web_url), ApiClient(web_url)
    caller.register_and_login(f"caller{suffix}", PASSWORD)
    callee.register_and_login(f"callee{suffix}", PASSWORD)
    socket_url = caller.call("GET", "/client-config")["signaling_url"]
    a = SignalingClient(socket_url, caller.token, origin=web_url)
    b = SignalingClient(socket_url, callee.token, origin=web_url)
    await asyncio.gather(a.connect(), b.connect())
    try:
        call = await asyncio.to_thread(caller.start_call, f"callee{suffix}")
        await b.wait_for("incoming", call_id=call["id"], timeout=10)
        await b.accept(call["id"])
        await a.wait_for("accepted", call_id=call["id"], timeout=10)
        await a.hangup(call["id"])
        await b.wait_for("ended", call_id=call["id"], timeout=10)
    finally:
        await asyncio.gather(a.close(), b.close(), return_exceptions=True)
    return {"call": call["id"], "signaling_url": socket_url, "client": client.__file__}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(one_call(sys.argv[1]))))
