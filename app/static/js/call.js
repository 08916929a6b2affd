// One call's media: the RTCPeerConnection, offer/answer, trickle ICE, ICE restarts, stats.
//
// The call's recorded caller makes every offer (also after glare and for ICE restarts); the
// callee only answers. Events: "remote-stream", "state" (connectionState), "quality" (a
// reading from stats.js), "connected" (first time only), "stats-report" (payload to send),
// "code" (the call code of callcode.js, each time the negotiated fingerprints change).

import { callCode } from "./callcode.js";
import { LocalMedia } from "./localmedia.js";
import { readQuality } from "./stats.js";

const DISCONNECTED_GRACE_MS = 3000;
const STATS_EVERY_MS = 1000;

export class CallSession extends EventTarget {
  /**
   * callId, peer (username), isOfferer (true for the call's caller), signaling (Signaling),
   * iceServers (RTCIceServer list from GET /ice-servers), localStream (may be null).
   */
  constructor({ callId, peer, isOfferer, signaling, iceServers, localStream }) {
    super();
    this.callId = callId;
    this.peer = peer;
    this.isOfferer = isOfferer;
    this.signaling = signaling;
    this.iceServers = iceServers;
    this.localStream = localStream;
    this.pc = null;
    this.remoteStream = new MediaStream();
    this.pendingCandidates = []; // remote candidates that came before the remote description
    this.chain = Promise.resolve(); // negotiation messages are handled one at a time
    this.offersSent = 0;
    this.iceRestarts = 0;
    this.disconnectTimer = null;
    this.statsTimer = null;
    this.lastQuality = null;
    this.reported = false;
    this.lastPathKey = null;
    this.lastSeq = null;
    this.closed = false;
    this.everConnected = false;
    this.code = null;
    this.outgoing = {}; // kind -> track sent instead of the stream's own (screen, new device)
  }

  /**
   * Send `track` (or nothing, for null) for `kind` from now on, on the same sender: no
   * renegotiation, the other side keeps its receiver and its frame counters keep rising.
   */
  async replaceTrack(kind, track) {
    this.outgoing[kind] = track;
    const sender = this.senderFor(kind);
    if (sender && sender.track !== track) await sender.replaceTrack(track);
  }

  /** The sender of the negotiated transceiver of `kind` (audio or video), or null. */
  senderFor(kind) {
    const live = (this.pc?.getTransceivers() ?? []).filter(
      (t) => t.receiver.track?.kind === kind && t.currentDirection !== "stopped",
    );
    const negotiated = live.find((t) => t.mid != null) ?? live[0];
    return negotiated?.sender ?? null;
  }

  createPeer() {
    if (this.pc) return this.pc;
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    this.pc = pc;
    const stream = this.localStream ?? new MediaStream();
    for (const kind of ["audio", "video"]) {
      const track = kind in this.outgoing ? this.outgoing[kind] : stream.getTracks().find((t) => t.kind === kind);
      // Without a camera or microphone: still send-and-receive, with nothing to send yet, so
      // a device (or a shared screen) can start sending later by replaceTrack alone.
      if (track) pc.addTrack(track, stream);
      else pc.addTransceiver(kind, { direction: "sendrecv", streams: [stream] });
    }
    pc.ontrack = (event) => {
      if (!this.remoteStream.getTracks().includes(event.track)) {
        this.remoteStream.addTrack(event.track);
      }
      this.emit("remote-stream", this.remoteStream);
    };
    pc.onicecandidate = (event) => {
      // null marks the end of this gathering round (PROTOCOL.md: null payload).
      const payload = event.candidate ? event.candidate.toJSON() : null;
      this.relay("candidate", payload);
    };
    pc.onconnectionstatechange = () => this.onConnectionState();
    pc.oniceconnectionstatechange = () => this.onIceState();
    if (!this.statsTimer) this.startStats();
    return pc;
  }

  /**
   * Replace the peer connection with a fresh one. Used when the other side started over
   * (a reloaded page has new DTLS keys, which an ICE restart cannot bridge).
   */
  rebuild() {
    const old = this.pc;
    this.pc = null;
    if (old) {
      old.ontrack = old.onicecandidate = null;
      old.onconnectionstatechange = old.oniceconnectionstatechange = null;
      old.close();
    }
    this.pendingCandidates = [];
    this.remoteStream = new MediaStream();
    this.lastQuality = null;
    this.reported = false;
    this.code = null;
    this.emit("code", null); // new keys: the next negotiation gives a new code
    return this.createPeer();
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  relay(type, payload) {
    if (this.closed) return;
    this.signaling.send({ type, call_id: this.callId, to: this.peer, payload });
  }

  /** Caller: send the first offer, or a new one with `iceRestart` when the path changed. */
  offer({ iceRestart = false } = {}) {
    this.enqueue(async () => {
      if (!this.isOfferer || this.closed) return;
      const pc = this.createPeer();
      if (pc.signalingState === "have-local-offer") {
        // The last offer got no answer (the peer was away when it was relayed): replace it.
        await pc.setLocalDescription({ type: "rollback" });
      }
      const offer = await pc.createOffer(iceRestart ? { iceRestart: true } : {});
      await pc.setLocalDescription(offer);
      const payload = { type: "offer", sdp: pc.localDescription.sdp };
      if (iceRestart) payload.iceRestart = true;
      this.offersSent += 1;
      if (iceRestart) this.iceRestarts += 1;
      this.relay("offer", payload);
    });
  }

  /** The network path may have changed (our socket or the peer's came back): restart ICE. */
  restartIce() {
    if (!this.pc || this.closed) return;
    if (this.isOfferer) this.offer({ iceRestart: true });
  }

  /** An `offer`, `answer` or `candidate` relayed by the server for this call. */
  handleSignal(message) {
    if (typeof message.seq === "number") {
      if (this.lastSeq !== null && message.seq !== this.lastSeq + 1) {
        console.warn(`call ${this.callId}: signaling gap (${this.lastSeq} -> ${message.seq})`);
        if (this.isOfferer) this.restartIce(); // a lost candidate or answer: start ICE afresh
      }
      this.lastSeq = message.seq;
    }
    this.enqueue(async () => {
      if (this.closed) return;
      if (message.type === "offer") await this.onOffer(message.payload);
      else if (message.type === "answer") await this.onAnswer(message.payload);
      else if (message.type === "candidate") await this.onCandidate(message.payload);
    });
  }

  enqueue(task) {
    this.chain = this.chain.then(task).catch((err) => {
      console.error(`call ${this.callId}: negotiation failed`, err);
    });
    return this.chain;
  }

  async onOffer(payload) {
    let pc = this.createPeer();
    if (pc.signalingState !== "stable") {
      await pc.setLocalDescription({ type: "rollback" }); // polite: their offer wins
    }
    try {
      await pc.setRemoteDescription({ type: "offer", sdp: payload.sdp });
    } catch (err) {
      console.warn(`call ${this.callId}: offer does not fit this connection; starting over`, err);
      pc = this.rebuild();
      await pc.setRemoteDescription({ type: "offer", sdp: payload.sdp });
    }
    await this.flushCandidates();
    this.sendOnEveryKind(pc);
    await pc.setLocalDescription(await pc.createAnswer());
    this.relay("answer", { type: "answer", sdp: pc.localDescription.sdp });
    await this.updateCode();
  }

  /**
   * The answerer's transceivers for kinds it has no device for are created by the offer as
   * receive-only: make them send-and-receive (sending nothing yet), so that replaceTrack
   * alone can later send a camera or a shared screen.
   */
  sendOnEveryKind(pc) {
    for (const t of pc.getTransceivers()) {
      if (t.mid != null && t.direction === "recvonly") {
        t.direction = "sendrecv";
        const track = this.outgoing[t.receiver.track.kind];
        if (track) t.sender.replaceTrack(track).catch(() => {});
      }
    }
  }

  async onAnswer(payload) {
    const pc = this.pc;
    if (!pc || pc.signalingState !== "have-local-offer") return; // stale or duplicate
    try {
      await pc.setRemoteDescription({ type: "answer", sdp: payload.sdp });
    } catch (err) {
      console.warn(`call ${this.callId}: answer does not fit this connection; starting over`, err);
      this.rebuild();
      this.offer();
      return;
    }
    await this.updateCode(); // before ICE and DTLS: shown even if the connection then fails
    await this.flushCandidates();
  }

  /**
   * Recompute the call code from the descriptions this browser negotiated (never from the
   * messages as relayed: a rewritten fingerprint must change what this side shows).
   */
  async updateCode() {
    const pc = this.pc;
    const local = pc?.localDescription?.sdp;
    const remote = pc?.remoteDescription?.sdp;
    if (!local || !remote) return;
    let code = null;
    try {
      code = await callCode(local, remote);
    } catch (err) {
      console.warn(`call ${this.callId}: no call code`, err);
    }
    if (this.closed || this.pc !== pc || code === this.code) return;
    this.code = code;
    this.emit("code", code);
  }

  async onCandidate(payload) {
    if (!payload || !payload.candidate) return; // end-of-candidates needs nothing from us
    if (!this.pc || !this.pc.remoteDescription) {
      this.pendingCandidates.push(payload);
      return;
    }
    await this.addCandidate(payload);
  }

  async addCandidate(init) {
    try {
      await this.pc.addIceCandidate(init);
    } catch (err) {
      // A candidate of an earlier ICE generation is harmless; never let it stop the queue.
      console.warn(`call ${this.callId}: candidate refused`, err);
    }
  }

  async flushCandidates() {
    const queued = this.pendingCandidates;
    this.pendingCandidates = [];
    for (const init of queued) await this.addCandidate(init);
  }

  onConnectionState() {
    const state = this.pc.connectionState;
    this.emit("state", state);
    if (state === "failed" && this.pc.iceConnectionState !== "failed" && this.isOfferer) {
      // ICE works but DTLS does not: the other side has new keys. Start over.
      this.enqueue(async () => {
        this.rebuild();
        this.offer();
      });
    }
    if (state === "connected" && !this.everConnected) {
      this.everConnected = true;
      this.emit("connected", null);
    }
  }

  onIceState() {
    const state = this.pc.iceConnectionState;
    clearTimeout(this.disconnectTimer);
    if (state === "failed") this.restartIce();
    if (state === "disconnected") {
      this.disconnectTimer = setTimeout(() => {
        if (this.pc?.iceConnectionState === "disconnected") this.restartIce();
      }, DISCONNECTED_GRACE_MS);
    }
  }

  startStats() {
    const tick = async () => {
      if (this.closed || !this.pc) return;
      try {
        const quality = await readQuality(this.pc, this.lastQuality);
        this.lastQuality = quality;
        this.emit("quality", quality);
        this.maybeReport(quality);
        this.watchPath(quality);
      } catch (err) {
        console.warn("getStats failed", err);
      }
      if (!this.closed) this.statsTimer = setTimeout(tick, STATS_EVERY_MS);
    };
    this.statsTimer = setTimeout(tick, STATS_EVERY_MS);
  }

  /** Once connected with a measured round trip, tell the server how the call connected. */
  maybeReport(quality) {
    if (this.reported || quality.path == null || quality.rttMs == null) return;
    this.reported = true;
    const rtt = Math.min(60000, Math.max(0, quality.rttMs));
    this.emit("stats-report", { path: quality.path, rtt_ms: rtt });
  }

  watchPath(quality) {
    if (!quality.pairKey) return;
    if (this.lastPathKey && this.lastPathKey !== quality.pairKey) {
      this.reported = false; // report the new path too
    }
    this.lastPathKey = quality.pairKey;
  }

  /** Stop everything; the caller of close() owns (and stops) the local stream. */
  close() {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.statsTimer);
    clearTimeout(this.disconnectTimer);
    this.signaling.forgetCall(this.callId);
    if (this.pc) {
      this.pc.ontrack = this.pc.onicecandidate = null;
      this.pc.onconnectionstatechange = this.pc.oniceconnectionstatechange = null;
      this.pc.close();
    }
    for (const track of this.remoteStream.getTracks()) track.stop();
  }
}

/**
 * Camera and microphone as chosen in the device panel (a LocalMedia: `stream`, `error`,
 * `message`); whichever is denied or missing is left out, down to receive-only.
 */
export function getLocalMedia() {
  return LocalMedia.open();
}
