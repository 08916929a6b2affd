// The call code (app/static/js/callcode.js): same code for the same negotiated pair, in
// either order; a rewritten fingerprint gives another code. Run: node --test tests/js
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";

import { callCode, codeInput, digitsFrom, fingerprintsOf } from "../../app/static/js/callcode.js";

const A = "sha-256 " + Array(32).fill("0a").join(":");
const B = "sha-256 " + Array(32).fill("B1").join(":");
const M = "sha-256 " + Array(32).fill("EE").join(":");
const sdp = (fp) => `v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=fingerprint:${fp}\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=fingerprint:${fp}\r\n`;

test("fingerprints are normalised, de-duplicated and sorted", () => {
  assert.deepEqual(fingerprintsOf(sdp(A)), ["sha-256 " + Array(32).fill("0A").join(":")]);
  assert.deepEqual(fingerprintsOf("v=0\r\n"), []);
  assert.deepEqual(fingerprintsOf(null), []);
});

test("both sides of a call compute the same code", async () => {
  const alice = await callCode(sdp(A), sdp(B));
  const bob = await callCode(sdp(B), sdp(A));
  assert.match(alice, /^\d{3} \d{3}$/);
  assert.equal(alice, bob);
});

test("the code is SHA-256 of the sorted fingerprints, first four bytes mod 10^6", async () => {
  const input = codeInput(sdp(A), sdp(B));
  const digest = createHash("sha256").update(input).digest();
  const number = digest.readUInt32BE(0) % 1_000_000;
  const digits = String(number).padStart(6, "0");
  assert.equal(await callCode(sdp(A), sdp(B)), `${digits.slice(0, 3)} ${digits.slice(3)}`);
});

test("a man in the middle gives each side a different code", async () => {
  // Alice negotiated with M (the attacker's key) and Bob with M as well: neither saw the other.
  const alice = await callCode(sdp(A), sdp(M));
  const bob = await callCode(sdp(B), sdp(M));
  assert.notEqual(alice, bob);
  assert.notEqual(alice, await callCode(sdp(A), sdp(B)));
});

test("no code until both descriptions carry a fingerprint, or without SubtleCrypto", async () => {
  assert.equal(await callCode(sdp(A), "v=0\r\n"), null);
  assert.equal(await callCode(sdp(A), sdp(B), undefined), await callCode(sdp(A), sdp(B)));
  assert.equal(await callCode(sdp(A), sdp(B), null), null);
});

test("digits keep leading zeros", () => {
  assert.equal(digitsFrom(new Uint8Array([0, 0, 0, 7])), "000 007");
});
