// A CallSession that can send a shared screen beside the camera, for 1:1 calls and for each
// connection of a meeting's mesh (meetingpeer.js).
//
// The screen travels on a video transceiver of its own: the offerer adds it from the start
// (sending nothing until someone shares), so sharing is a replaceTrack on it, never a
// renegotiation, and the other side gets the screen and the sharer's camera at once. The
// answerer finds it as the offer's second video m-line (mid order) and keeps its camera
// off it. Event "remote-screen" (a MediaStream) for the other side's screen track; whether
// they share right now is said over signaling (`media_state` `screen`, or `screen_share`
// in meetings), since an unused track looks the same as a paused one.

import { CallSession } from "./call.js";

export class ScreenSession extends CallSession {
  constructor(options) {
    super(options);
    this.screen = null; // my shared screen's track, or null
    this.screenTx = null; // the screen's transceiver, when this side created it
    this.screenStream = new MediaStream(); // their shared screen
  }

  createPeer() {
    if (this.pc) return this.pc;
    const pc = super.createPeer();
    if (this.isOfferer) {
      this.screenTx = pc.addTransceiver("video", { direction: "sendrecv", streams: [new MediaStream()] });
      if (this.screen) this.screenTx.sender.replaceTrack(this.screen).catch(() => {});
    }
    const cameraAndSound = pc.ontrack;
    pc.ontrack = (event) => {
      if (event.transceiver !== this.screenTransceiver()) {
        cameraAndSound(event);
        return;
      }
      if (!this.screenStream.getTracks().includes(event.track)) this.screenStream.addTrack(event.track);
      this.emit("remote-screen", this.screenStream);
    };
    return pc;
  }

  rebuild() {
    this.screenTx = null;
    this.screenStream = new MediaStream();
    return super.rebuild();
  }

  /** The screen's transceiver: mine, or the offer's second video (m-lines in mid order). */
  screenTransceiver() {
    if (this.screenTx) return this.screenTx;
    const videos = (this.pc?.getTransceivers() ?? [])
      .filter((t) => t.mid != null && t.receiver.track?.kind === "video")
      .sort((a, b) => Number(a.mid) - Number(b.mid));
    return videos[1] ?? null;
  }

  /** Send `track` (a shared screen, or null for none) on the screen's transceiver. */
  async setScreen(track) {
    this.screen = track;
    const sender = this.screenTransceiver()?.sender;
    if (sender && sender.track !== track) await sender.replaceTrack(track);
  }

  /**
   * Send what `local` (a LocalMedia) has now for `kind`: its device on the device's sender,
   * and for video its shared screen (or none) on the screen's own.
   */
  follow(local, kind) {
    this.replaceTrack(kind, local.track(kind));
    if (kind === "video") this.setScreen(local.screen);
  }

  /** As CallSession's, but the screen's transceiver carries the screen, never the camera. */
  sendOnEveryKind(pc) {
    const screen = this.screenTransceiver();
    for (const t of pc.getTransceivers()) {
      if (t.mid == null || t.direction !== "recvonly") continue;
      t.direction = "sendrecv";
      const track = t === screen ? this.screen : this.outgoing[t.receiver.track.kind];
      if (track) t.sender.replaceTrack(track).catch(() => {});
    }
  }
}
