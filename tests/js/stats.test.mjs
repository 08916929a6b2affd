// Stats parsing (app/static/js/stats.js) on a hand-made getStats() report.
import assert from "node:assert/strict";
import { test } from "node:test";

import { describeQuality, readQuality } from "../../app/static/js/stats.js";

function fakePc(entries) {
  return { getStats: async () => new Map(entries.map((s) => [s.id, s])) };
}

function report({ t, bytesIn, lost = 0, relay = false }) {
  return [
    { id: "T", type: "transport", timestamp: t, selectedCandidatePairId: "P" },
    { id: "P", type: "candidate-pair", timestamp: t, localCandidateId: "L", remoteCandidateId: "R", currentRoundTripTime: 0.0123 },
    { id: "L", type: "local-candidate", timestamp: t, candidateType: relay ? "relay" : "host", address: "10.0.0.1", port: 1 },
    { id: "R", type: "remote-candidate", timestamp: t, candidateType: "srflx", address: "10.0.0.2", port: 2 },
    { id: "V", type: "inbound-rtp", kind: "video", timestamp: t, bytesReceived: bytesIn, packetsReceived: 100, packetsLost: lost, framesDecoded: 30 },
    { id: "A", type: "inbound-rtp", kind: "audio", timestamp: t, bytesReceived: 0, packetsReceived: 50, packetsLost: 0 },
  ];
}

test("round trip, path and frame counts come from the selected pair and inbound RTP", async () => {
  const q = await readQuality(fakePc(report({ t: 1000, bytesIn: 0 })));
  assert.equal(q.rttMs, 12.3);
  assert.equal(q.path, "direct");
  assert.equal(q.framesDecoded, 30);
  assert.equal(q.audioPacketsIn, 50);
  assert.equal(q.level, "good");
  assert.equal(q.kbpsIn, null);
});

test("two readings a second apart give a bitrate and a loss rate", async () => {
  const first = await readQuality(fakePc(report({ t: 1000, bytesIn: 0 })));
  const second = await readQuality(fakePc(report({ t: 2000, bytesIn: 125_000, lost: 10, relay: true })), first);
  assert.equal(second.kbpsIn, 1000);
  assert.equal(second.path, "relayed");
  assert.ok(second.lossPercent > 0);
  assert.match(describeQuality(second), /↓ 1\.0 Mbps .* relayed$/);
});

test("nothing measured yet reads as connecting", () => {
  assert.equal(describeQuality(null), "Connecting…");
});
