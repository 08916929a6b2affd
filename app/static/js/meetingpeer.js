// One peer connection of a meeting's mesh: a CallSession whose negotiation names the
// meeting (`meeting_id`) instead of a call, towards one other participant.
//
// Who offers (PROTOCOL.md "Meetings"): the newcomer offers to everyone already there; the
// others only answer. A participant who comes back (reload, new socket) is a newcomer again
// and offers from a brand-new connection: its offer carries another DTLS fingerprint, and
// then we start our side over too instead of patching the old connection.
//
// A shared screen travels on a video transceiver of its own, beside the camera
// (screensession.js): sharing never renegotiates the mesh.

import { ScreenSession } from "./screensession.js";

/** The DTLS certificate fingerprint of a session description, or null. */
export function fingerprint(sdp) {
  return /^a=fingerprint:(.+)$/m.exec(sdp ?? "")?.[1]?.trim() ?? null;
}

export class MeetingPeer extends ScreenSession {
  /** meetingId, peer (username), isOfferer, signaling, iceServers, localStream. */
  constructor({ meetingId, peer, isOfferer, signaling, iceServers, localStream }) {
    // A label that never equals a call id, so CallSession.close() forgets no call's messages.
    const callId = `meeting ${meetingId}/${peer}`;
    super({ callId, peer, isOfferer, signaling, iceServers, localStream });
    this.meetingId = meetingId;
    this.lastOfferAt = 0;
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
