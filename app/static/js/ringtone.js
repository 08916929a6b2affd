// A ringtone made with Web Audio (no audio files): two tones, 1.2 s on, 2.8 s off.

const TONES_HZ = [440, 480];
const ON_S = 1.2;
const PERIOD_MS = 4000;

export class Ringtone {
  constructor() {
    this.context = null;
    this.timer = null;
    this.playing = false;
    this.nodes = [];
  }

  /**
   * Create the AudioContext during a user gesture (login, a click) so the browser's
   * autoplay policy lets it start later, when a call comes in without any gesture.
   */
  unlock() {
    if (!this.context) {
      const Context = window.AudioContext || window.webkitAudioContext;
      if (!Context) return;
      this.context = new Context();
    }
    if (this.context.state === "suspended") this.context.resume().catch(() => {});
  }

  start() {
    if (this.playing) return;
    this.unlock();
    if (!this.context) return;
    this.playing = true;
    this.burst();
    this.timer = setInterval(() => this.burst(), PERIOD_MS);
  }

  burst() {
    const ctx = this.context;
    if (ctx.state === "suspended") ctx.resume().catch(() => {});
    const now = ctx.currentTime;
    const gain = ctx.createGain();
    gain.gain.setValueAtTime(0, now);
    gain.gain.linearRampToValueAtTime(0.15, now + 0.05);
    gain.gain.setValueAtTime(0.15, now + ON_S - 0.05);
    gain.gain.linearRampToValueAtTime(0, now + ON_S);
    gain.connect(ctx.destination);
    for (const hz of TONES_HZ) {
      const osc = ctx.createOscillator();
      osc.frequency.value = hz;
      osc.connect(gain);
      osc.start(now);
      osc.stop(now + ON_S);
      this.nodes.push(osc);
      osc.onended = () => {
        this.nodes = this.nodes.filter((n) => n !== osc);
      };
    }
  }

  stop() {
    if (!this.playing) return;
    this.playing = false;
    clearInterval(this.timer);
    for (const osc of this.nodes) {
      try {
        osc.stop();
      } catch {
        // already stopped
      }
    }
    this.nodes = [];
  }

  /** For tests and diagnostics. */
  get state() {
    return { playing: this.playing, context: this.context ? this.context.state : "none" };
  }
}
