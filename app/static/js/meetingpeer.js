// One peer connection of a meeting's mesh: a CallSession whose negotiation names the
// meeting (`meeting_id`) instead of a call, towards one other participant.
//
// Who offers (PROTOCOL.md "Meetings"): the newcomer offers to everyone already there; the
// others only answer. A participant who comes back (reload, new socket) is a newcomer again
// and offers from a brand-new connection: its offer carries another DTLS fingerprint, and
// then we start our side over too instead of patching the old connection.
//
// A shared screen travels on a video transceiver of its own, beside the camera: the
// offerer adds it from the start (sending nothing until someone shares), so sharing is a
// replaceTrack on it, never a renegotiation of the mesh, and the others see the screen
// and the sharer's camera at once. Event "remote-screen" (a MediaStream) for its track.

import { CallSession } from "./call.js";

/** The DTLS certificate fingerprint of a session description, or null. */
export function fingerprint(sdp) {
  return /^a=fingerprint:(.+)$/m.exec(sdp ?? "")?.[1]?.trim() ?? null;
}

export class MeetingPeer extends CallSession {
  /** meetingId, peer (username), isOfferer, signaling, iceServers, localStream. */
  constructor({ meetingId, peer, isOfferer, signaling, iceServers, localStream }) {
    // A label that never equals a call id, so CallSession.close() forgets no call's messages.
    const callId = `meeting ${meetingId}/${peer}`;
    super({ callId, peer, isOfferer, signaling, iceServers, localStream });
    this.meetingId = meetingId;
    this.lastOfferAt = 0;
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

  /** Negotiation goes to one participant; never queued (after a reconnect we rejoin anew). */
  relay(type, payload) {
    if (this.closed) return;
    const message = { type, meeting_id: this.meetingId, to: this.peer, payload };
    this.signaling.send(message, { queue: false });
  }

  handleSignal(message) {
    if (message.type === "offer") this.lastOfferAt = Date.now();
    super.handleSignal(message);
  }

  async onOffer(payload) {
    const current = this.pc?.remoteDescription?.sdp;
    if (current && fingerprint(current) !== fingerprint(payload.sdp)) {
      // They started over as a newcomer: they offer from now on, on a fresh connection.
      this.isOfferer = false;
      this.rebuild();
    }
    await super.onOffer(payload);
  }
}
