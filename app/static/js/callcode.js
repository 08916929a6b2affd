// The call code: six digits both people read aloud to know that no one sits in the middle.
//
// The server relays the SDP, so a compromised server could hand each browser its own DTLS
// certificate fingerprint instead of the other person's, and relay the media itself. Each
// browser therefore hashes the two fingerprints *it actually negotiated* (its local
// description's and its remote description's, sorted so both sides agree on the order).
// Without a man in the middle both sides hash the same pair and show the same code; with
// one, each side hashes a pair that contains the attacker's fingerprint, and the codes differ.
//
// Pure functions only (no DOM): tests/js/callcode.test.js runs them under Node.

const FINGERPRINT_LINE = /^a=fingerprint:(\S+)\s+([0-9A-Fa-f:]+)\s*$/gm;

/**
 * The DTLS certificate fingerprints of a session description, normalised ("sha-256 AB:CD:…",
 * algorithm lower case, hex upper case), unique and sorted. Empty for a description without one.
 */
export function fingerprintsOf(sdp) {
  const found = new Set();
  for (const match of (sdp ?? "").matchAll(FINGERPRINT_LINE)) {
    found.add(`${match[1].toLowerCase()} ${match[2].toUpperCase()}`);
  }
  return [...found].sort();
}

/**
 * What both sides hash: every fingerprint of both descriptions, sorted, one per line; null
 * when either side has none (nothing to compare yet).
 */
export function codeInput(localSdp, remoteSdp) {
  const local = fingerprintsOf(localSdp);
  const remote = fingerprintsOf(remoteSdp);
  if (!local.length || !remote.length) return null;
  return [...local, ...remote].sort().join("\n");
}

/** Six digits from the first four bytes of a digest, as "123 456" (easy to read aloud). */
export function digitsFrom(digest) {
  const bytes = new Uint8Array(digest);
  const number = ((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) >>> 0;
  const digits = String(number % 1_000_000).padStart(6, "0");
  return `${digits.slice(0, 3)} ${digits.slice(3)}`;
}

/**
 * The call code of a negotiated pair of descriptions (SHA-256 by SubtleCrypto), or null when
 * a description lacks a fingerprint or the page has no SubtleCrypto (not a secure context).
 */
export async function callCode(localSdp, remoteSdp, subtle = globalThis.crypto?.subtle) {
  const input = codeInput(localSdp, remoteSdp);
  if (input == null || !subtle) return null;
  const digest = await subtle.digest("SHA-256", new TextEncoder().encode(input));
  return digitsFrom(digest);
}
