// Connection quality from RTCPeerConnection.getStats(): round trip, bitrate, direct/relayed.

/** The candidate pair in use, or null before ICE has chosen one. */
function selectedPair(report) {
  let pair = null;
  report.forEach((stat) => {
    if (stat.type === "transport" && stat.selectedCandidatePairId) {
      pair = report.get(stat.selectedCandidatePairId) ?? pair;
    }
  });
  if (pair) return pair;
  report.forEach((stat) => {
    if (!pair && stat.type === "candidate-pair" && stat.nominated && stat.state === "succeeded") {
      pair = stat;
    }
  });
  return pair;
}

function rtpTotals(report) {
  const totals = {
    bytesIn: 0,
    bytesOut: 0,
    packetsIn: 0,
    packetsLost: 0,
    framesDecoded: 0,
    audioPacketsIn: 0,
    timestamp: 0,
  };
  report.forEach((stat) => {
    totals.timestamp = Math.max(totals.timestamp, stat.timestamp ?? 0);
    if (stat.type === "inbound-rtp") {
      totals.bytesIn += stat.bytesReceived ?? 0;
      totals.packetsIn += stat.packetsReceived ?? 0;
      totals.packetsLost += Math.max(0, stat.packetsLost ?? 0);
      if (stat.kind === "video") totals.framesDecoded += stat.framesDecoded ?? 0;
      if (stat.kind === "audio") totals.audioPacketsIn += stat.packetsReceived ?? 0;
    } else if (stat.type === "outbound-rtp") {
      totals.bytesOut += stat.bytesSent ?? 0;
    }
  });
  return totals;
}

function level(sample) {
  if (sample.rttMs == null) return "unknown";
  const loss = sample.lossPercent ?? 0;
  if (sample.rttMs < 150 && loss < 2) return "good";
  if (sample.rttMs < 400 && loss < 8) return "fair";
  return "poor";
}

/**
 * One reading. `previous` (the last reading) turns byte counters into bitrates.
 * Fields: rttMs, path ("direct" | "relayed" | null), kbpsIn, kbpsOut, lossPercent,
 * framesDecoded, audioPacketsIn, level ("good" | "fair" | "poor" | "unknown").
 */
export async function readQuality(pc, previous = null) {
  const report = await pc.getStats();
  const pair = selectedPair(report);
  const totals = rtpTotals(report);
  const sample = { totals, rttMs: null, path: null, kbpsIn: null, kbpsOut: null };
  if (pair) {
    if (typeof pair.currentRoundTripTime === "number") {
      sample.rttMs = Math.round(pair.currentRoundTripTime * 10000) / 10;
    }
    const local = report.get(pair.localCandidateId);
    const remote = report.get(pair.remoteCandidateId);
    const relayed = local?.candidateType === "relay" || remote?.candidateType === "relay";
    sample.path = relayed ? "relayed" : "direct";
    sample.pairKey = `${local?.address}:${local?.port}>${remote?.address}:${remote?.port}`;
  }
  if (previous?.totals?.timestamp && totals.timestamp > previous.totals.timestamp) {
    const seconds = (totals.timestamp - previous.totals.timestamp) / 1000;
    sample.kbpsIn = Math.max(0, ((totals.bytesIn - previous.totals.bytesIn) * 8) / 1000 / seconds);
    sample.kbpsOut = Math.max(0, ((totals.bytesOut - previous.totals.bytesOut) * 8) / 1000 / seconds);
    const packets = totals.packetsIn - previous.totals.packetsIn;
    const lost = totals.packetsLost - previous.totals.packetsLost;
    sample.lossPercent = packets + lost > 0 ? (100 * Math.max(0, lost)) / (packets + lost) : 0;
  }
  sample.framesDecoded = totals.framesDecoded;
  sample.audioPacketsIn = totals.audioPacketsIn;
  sample.level = level(sample);
  return sample;
}

function formatRate(kbps) {
  if (kbps == null) return "–";
  return kbps >= 1000 ? `${(kbps / 1000).toFixed(1)} Mbps` : `${Math.round(kbps)} kbps`;
}

/** A short human description, e.g. "Good · 3 ms · ↓ 1.2 Mbps ↑ 800 kbps · direct". */
export function describeQuality(sample) {
  if (!sample || sample.path == null) return "Connecting…";
  const label = { good: "Good", fair: "Fair", poor: "Poor", unknown: "Measuring" }[sample.level];
  const rtt = sample.rttMs == null ? "– ms" : `${sample.rttMs} ms`;
  return `${label} · ${rtt} · ↓ ${formatRate(sample.kbpsIn)} ↑ ${formatRate(sample.kbpsOut)} · ${sample.path}`;
}
