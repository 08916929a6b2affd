// Reconnect delays of the web client (app/static/js/signaling.js): a 1013 close's retry hint
// is honoured instead of the client's own backoff, so a storm of clients comes back spread.
import assert from "node:assert/strict";
import { test } from "node:test";

import { retryHintMs, Signaling } from "../../app/static/js/signaling.js";

test("a 1013 close's reason gives the retry hint in ms", () => {
  assert.equal(retryHintMs(1013, "server busy, retry after 2.5 s"), 2500);
  assert.equal(retryHintMs(1013, "server busy, retry after 17 s"), 17000);
  assert.equal(retryHintMs(1013, "server busy, retry after 900 s"), 60000); // capped
});

test("no hint without 1013 or without a number", () => {
  assert.equal(retryHintMs(1011, "retry after 2.5 s"), null);
  assert.equal(retryHintMs(1013, "try again later"), null);
  assert.equal(retryHintMs(1013, undefined), null);
});

function statusesOf(signaling) {
  const seen = [];
  signaling.addEventListener("status", (e) => seen.push(e.detail));
  return seen;
}

test("a 1013 close waits the server's hint, other closes back off from 0.5 s", () => {
  const signaling = new Signaling("ws://127.0.0.1:1/ws", () => null); // no token: never connects
  const seen = statusesOf(signaling);
  signaling.stopped = false; // as after start(), without a window or a socket
  signaling.onClose(null, { code: 1013, reason: "server busy, retry after 7.3 s" });
  signaling.onClose(null, { code: 1006, reason: "" });
  clearTimeout(signaling.retryTimer);
  assert.equal(seen[0].retryIn, 7300);
  assert.equal(seen[0].code, 1013);
  assert.ok(seen[1].retryIn >= 500 && seen[1].retryIn <= 1000, `${seen[1].retryIn}`); // 2nd try: base 1 s
});
