// Who is speaking, from the audio level of what we receive (getStats' inbound-rtp
// `audioLevel`, 0..1). A speaker stays "speaking" through the short pauses between words,
// so the indicator does not flicker; SpeakingDetector is pure and unit-tested.

export const SPEAKING_LEVEL = 0.02; // above the fake device's silence, below a quiet voice
export const HOLD_MS = 900; // how long a pause keeps someone marked as speaking
export const POLL_MS = 300;

export class SpeakingDetector {
  constructor({ level = SPEAKING_LEVEL, holdMs = HOLD_MS } = {}) {
    this.level = level;
    this.holdMs = holdMs;
    this.lastLoud = -Infinity;
    this.speaking = false;
    this.loudness = 0; // a slowly decaying peak, to choose the active speaker
  }

  /** One reading (`audioLevel` at time `now` in ms); returns whether they are speaking. */
  feed(audioLevel, now) {
    const level = Number.isFinite(audioLevel) ? audioLevel : 0;
    if (level >= this.level) this.lastLoud = now;
    this.loudness = Math.max(level, this.loudness * 0.7);
    this.speaking = now - this.lastLoud <= this.holdMs;
    return this.speaking;
  }
}

/** The inbound audio level of `pc` (the loudest inbound audio stream), or null. */
export async function inboundAudioLevel(pc) {
  if (!pc || pc.connectionState === "closed") return null;
  let level = null;
  const report = await pc.getStats();
  report.forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "audio" && typeof s.audioLevel === "number") {
      level = Math.max(level ?? 0, s.audioLevel);
    }
  });
  return level;
}

/**
 * Poll every `POLL_MS`: `sources()` gives [[key, pc], ...]; `onChange(key, speaking,
 * loudness)` is called on every reading. Returns a function that stops it.
 */
export function watchSpeaking(sources, onChange) {
  const detectors = new Map();
  let stopped = false;
  const tick = async () => {
    const now = performance.now();
    for (const [key, pc] of sources()) {
      let level = null;
      try {
        level = await inboundAudioLevel(pc);
      } catch {
        level = null; // a connection closing under us
      }
      if (stopped) return;
      if (!detectors.has(key)) detectors.set(key, new SpeakingDetector());
      const detector = detectors.get(key);
      onChange(key, detector.feed(level ?? 0, now), detector.loudness);
    }
  };
  const timer = setInterval(() => tick().catch(() => {}), POLL_MS);
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
