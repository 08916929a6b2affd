// The call lifecycle on this device: dialing, ringing, in call, and back to idle.
//
// Call control goes through the HTTP API (it works while the socket reconnects); the
// server's events (PROTOCOL.md) drive every state change, so both sides stay in step.

import { ApiError, api } from "./api.js";
import { getLocalMedia } from "./call.js";
import {
  clearVideos,
  endText,
  showCallScreen,
  showLocalStream,
  showRemoteSharing,
  showSession,
  showSharing,
  toggleInfoPanel,
  toggleTrack,
} from "./callview.js";
import { ChatPanel } from "./chat.js";
import { devicePanel } from "./devicepanel.js";
import { TileState, mediaStateOf } from "./tilestate.js";
import { $, CallTimer, announce, formatDuration, notice, setText, showMessage, showScreen } from "./ui.js";
import { Ringtone } from "./ringtone.js";
import { ScreenSession } from "./screensession.js";
import { watchSpeaking } from "./speaking.js";
import { addVideoControls } from "./videocontrols.js";

const END_EVENTS = ["ended", "declined", "cancelled", "missed", "busy"];
const NEGOTIATION = ["offer", "answer", "candidate"];

export class Phone {
  /**
   * `me`: my username; `onIdle()`: called whenever a call is over (refresh history);
   * `isBusy()`: true while this page is in a meeting (no calls then).
   */
  constructor({ signaling, me, onIdle, isBusy = () => false }) {
    this.signaling = signaling;
    this.me = me;
    this.onIdle = onIdle;
    this.isBusy = isBusy;
    this.call = null; // {id, peer, name, role, state, media, session, early}
    this.ringtone = new Ringtone();
    this.timer = new CallTimer("call-timer");
    this.handlers = [];
    this.listen("incoming", (m) => this.onIncoming(m));
    this.listen("ringing", (m) => this.onRinging(m));
    this.listen("accepted", (m) => this.onAccepted(m));
    this.listen("answered_elsewhere", (m) => this.onAnsweredElsewhere(m));
    for (const type of END_EVENTS) this.listen(type, (m) => this.onEnd(m));
    for (const type of NEGOTIATION) this.listen(type, (m) => this.onNegotiation(m));
    this.listen("peer_disconnected", (m) => this.onPeerDisconnected(m));
    this.listen("peer_reconnected", (m) => this.onPeerReconnected(m));
    this.listen("welcome", (m) => this.onWelcome(m));
    this.listen("error", (m) => console.warn("signaling error", m.code, m.message));
    this.listen("media_state", (m) => this.onMediaState(m));
    const screen = $("screen-call");
    this.chat = new ChatPanel({
      signaling,
      prefix: "call",
      toolbar: screen.querySelector(".controls"),
      container: screen.querySelector(".stage"),
    });
    this.remoteState = new TileState(screen.querySelector(".stage"));
    this.videoControls = addVideoControls(screen.querySelector(".stage"), $("remote-video"), () => this.call?.name ?? "the other person", {
      testPrefix: "call-",
    });
    this.bindButtons();
    this.watchNetwork();
  }

  /** A new network (Wi-Fi to mobile, back online): the media path must be found again. */
  watchNetwork() {
    const restart = () => this.session?.restartIce();
    window.addEventListener("online", restart);
    navigator.connection?.addEventListener?.("change", restart);
    this.unwatchNetwork = () => {
      window.removeEventListener("online", restart);
      navigator.connection?.removeEventListener?.("change", restart);
    };
  }

  listen(type, handler) {
    const wrapped = (event) => handler(event.detail);
    this.signaling.addEventListener(type, wrapped);
    this.handlers.push([type, wrapped]);
  }

  bindButtons() {
    const bind = (id, fn) => {
      const handler = () => fn.call(this);
      $(id).addEventListener("click", handler);
      this.handlers.push([null, handler, id]);
    };
    bind("cancel-button", this.hangup);
    bind("hangup-button", this.hangup);
    bind("accept-button", this.accept);
    bind("decline-button", this.decline);
    bind("mute-button", this.toggleMic);
    bind("camera-button", this.toggleCamera);
    bind("call-info-button", toggleInfoPanel);
    bind("share-button", this.toggleShare);
    bind("call-devices-button", this.toggleDevices);
  }

  /** Detach from the page (logout). */
  destroy() {
    this.teardown();
    this.chat.destroy();
    this.remoteState.remove();
    this.videoControls.remove();
    this.unwatchNetwork();
    for (const [type, handler, id] of this.handlers) {
      if (type) this.signaling.removeEventListener(type, handler);
      else $(id).removeEventListener("click", handler);
    }
  }

  get session() {
    return this.call?.session ?? null;
  }

  /**
   * Does a server message concern my current call? While POST /call/start has not answered
   * yet, `ringing` (my call) and `accepted` (possibly merged with theirs) tell us its id.
   */
  matches(message) {
    const call = this.call;
    if (!call) return false;
    if (call.id === message.call_id) return true;
    if (call.id != null || !["ringing", "accepted"].includes(message.type)) return false;
    // After glare our own invite is the one that gives way: never bind to it.
    if (message.type === "ringing" && call.crossed) return false;
    const record = message.call ?? {};
    const peer = record.caller === this.me ? record.callee : record.caller;
    if (peer !== call.peer || (message.type === "ringing" && record.caller !== this.me)) {
      return false;
    }
    call.id = message.call_id;
    return true;
  }

  // --- Outgoing -------------------------------------------------------------------------

  async dial(username, displayName = "") {
    if (this.call || this.isBusy()) {
      notice("Finish the current call or meeting first.", { kind: "error" });
      return;
    }
    this.ringtone.unlock();
    const call = { id: null, peer: username, name: displayName || username, role: "caller" };
    call.state = "dialing";
    call.early = [];
    call.media = getLocalMedia();
    this.call = call;
    setText("outgoing-title", call.name);
    setText("outgoing-status", "Calling…");
    showScreen("outgoing", "cancel-button");
    call.media.then(({ stream }) => {
      if (this.call === call && stream) $("preview-video").srcObject = stream;
    });
    try {
      const answer = await this.startCall(username);
      if (this.call !== call) {
        // Hung up before the server answered: cancel the call that was just created.
        if (call.id == null) api.endCall(answer.call.id).catch(() => {});
        return;
      }
      if (answer.outcome === "merged") {
        // Their invite and ours crossed: the server answered theirs for us (ours is cancelled).
        call.id = answer.call.id;
        call.role = answer.call.caller === this.me ? "caller" : "callee";
        if (call.state === "dialing") this.startMedia();
      } else {
        call.id = call.id ?? answer.call.id;
        if (call.state === "dialing") setText("outgoing-status", "Ringing…");
      }
    } catch (err) {
      if (this.call !== call) return;
      const code = err instanceof ApiError ? err.code : "";
      this.teardown();
      if (code === "callee_offline") {
        // Nothing rang: the server recorded the call as missed for them, and says so with
        // their display name ("Carol is offline and will see your missed call.").
        notice(err.message, { ms: 10000 }); // #notice is a status region: it is said too
      } else {
        notice(code === "callee_busy" ? `${call.name} is in another call.` : err.message, { kind: "error" });
      }
      this.onIdle();
    }
  }

  /**
   * Ring `username`: a `call` on the signaling socket when it is open (no HTTP round trip),
   * else POST /call/start. Either way `{call, outcome}`, or an ApiError with the server's code.
   * A socket request that got no reply is retried over HTTP: a start that did land answers
   * `existing`, so the call is never made twice.
   */
  async startCall(username) {
    if (!this.signaling.ready) return api.startCall(username);
    let reply;
    try {
      reply = await this.signaling.request({ type: "call", to: username });
    } catch {
      return api.startCall(username);
    }
    if (reply.type === "ack") return { call: reply.call, outcome: reply.outcome };
    const body = reply.call_id != null ? { call: { id: reply.call_id } } : {};
    throw new ApiError(0, reply.code, reply.message, body);
  }

  /**
   * They called us while we were calling them (glare). The server keeps exactly one of the
   * two invites and answers it for us: our POST /call/start says `merged`, or `accepted`
   * (merged) arrives for our own call and `cancelled` for theirs. So: do not ring, wait.
   */
  onCrossed() {
    this.call.crossed = true;
    setText("outgoing-status", "Connecting…");
  }

  onRinging(message) {
    if (!this.matches(message) || this.call.state !== "dialing") return;
    setText("outgoing-status", "Ringing…");
  }

  // --- Incoming -------------------------------------------------------------------------

  onIncoming(message) {
    const mine = this.call;
    if (mine?.role === "caller" && mine.peer === message.from && mine.state === "dialing") {
      this.onCrossed(message);
      return;
    }
    if (mine || this.isBusy()) return; // busy on this device: let it ring elsewhere or be missed
    const call = { id: message.call_id, peer: message.from, name: message.from };
    Object.assign(call, { role: "callee", state: "incoming", early: [] });
    this.call = call;
    setText("incoming-title", call.name);
    setText("incoming-username", `@${message.from}`);
    showScreen("incoming", "accept-button");
    announce(`Incoming call from ${call.name}.`);
    this.ringtone.start();
    // Before answering: the preview and the device choices (the answer then uses this media).
    call.media = getLocalMedia();
    devicePanel.show("incoming-devices", call.media);
    api.user(message.from).then(
      (user) => {
        if (this.call !== call || !user.display_name) return;
        call.name = user.display_name;
        setText("incoming-title", call.name);
      },
      () => {},
    );
  }

  async accept() {
    const call = this.call;
    if (!call || call.state !== "incoming") return;
    call.state = "answering";
    this.ringtone.stop();
    $("accept-button").disabled = $("decline-button").disabled = true;
    call.media ??= getLocalMedia(); // before the offer arrives, so the answer carries our tracks
    try {
      await api.acceptCall(call.id);
    } catch (err) {
      if (this.call !== call) return;
      this.teardown();
      notice(err.message, { kind: "error" });
      this.onIdle();
      return;
    } finally {
      $("accept-button").disabled = $("decline-button").disabled = false;
    }
    if (this.call === call) await this.startMedia();
  }

  async decline() {
    const call = this.call;
    if (!call || call.state !== "incoming") return;
    this.teardown();
    notice(`You declined the call from ${call.name}.`);
    this.onIdle();
    try {
      await api.declineCall(call.id);
    } catch (err) {
      notice(err.message, { kind: "error" });
    }
    this.onIdle();
  }

  onAnsweredElsewhere(message) {
    if (!this.matches(message) || this.call.state !== "incoming") return;
    this.teardown();
    notice("Answered on another device.");
    this.onIdle();
  }

  // --- In call --------------------------------------------------------------------------

  onAccepted(message) {
    if (!this.matches(message)) return;
    const call = this.call;
    if (call.session || call.state === "active" || call.state === "answering") return;
    call.role = message.call?.caller === this.me ? "caller" : "callee";
    this.startMedia();
  }

  async startMedia() {
    const call = this.call;
    call.state = "active";
    this.ringtone.stop();
    showCallScreen(call.name);
    this.timer.start();
    call.media ??= getLocalMedia();
    devicePanel.hide();
    const [local, iceServers] = await Promise.all([call.media, this.iceServers()]);
    const stream = local.stream;
    if (this.call !== call) {
      local.stop();
      return;
    }
    call.stream = stream;
    call.local = local;
    if (local.message) notice(local.message, { kind: "error", ms: 12000 });
    showLocalStream(stream);
    this.chat.attach({ call_id: call.id });
    this.sendMediaState();
    const session = new ScreenSession({
      callId: call.id,
      peer: call.peer,
      isOfferer: call.role === "caller",
      signaling: this.signaling,
      iceServers,
      localStream: stream,
    });
    call.session = session;
    showSession(session);
    // A new device goes out on the same sender, a shared screen on its own beside the
    // camera (screensession.js): nothing is renegotiated.
    local.addEventListener("track", (e) => {
      if (call.session === session) session.follow(local, e.detail.kind);
    });
    local.addEventListener("sharing", (e) => {
      showSharing(e.detail, local);
      this.sendMediaState(); // the other side shows the screen (or stops showing it)
    });
    session.addEventListener("stats-report", (e) => {
      this.signaling.send({ type: "stats", call_id: call.id, id: "stats", payload: e.detail });
    });
    // Again once connected: the peer's page may not have been listening the first time.
    session.addEventListener("connected", () => {
      this.sendMediaState();
      announce(`Connected to ${call.name}.`);
    });
    session.createPeer();
    const stage = $("screen-call").querySelector(".stage");
    call.stopSpeaking = watchSpeaking(
      () => [["peer", session.pc]],
      (key, speaking) => (stage.dataset.speaking = String(speaking)),
    );
    for (const message of call.early.splice(0)) session.handleSignal(message);
    if (session.isOfferer) session.offer();
  }

  async iceServers() {
    try {
      return (await api.iceServers()).ice_servers;
    } catch {
      return this.signaling.welcome?.ice_servers ?? [];
    }
  }

  onNegotiation(message) {
    if (!this.matches(message) || message.from !== this.call.peer) return;
    if (this.call.session) this.call.session.handleSignal(message);
    else this.call.early.push(message); // before our peer connection exists
  }

  onPeerDisconnected(message) {
    if (!this.matches(message)) return;
    const grace = message.grace_seconds ? ` Waiting up to ${message.grace_seconds} s…` : "";
    showMessage("call-status", `${this.call.name}’s connection dropped.${grace}`);
  }

  onPeerReconnected(message) {
    if (!this.matches(message)) return;
    showMessage("call-status", "");
    this.session?.restartIce(); // their network path may have changed
  }

  toggleMic() {
    toggleTrack(this.call?.stream, "audio");
    this.sendMediaState();
  }

  toggleCamera() {
    toggleTrack(this.call?.stream, "video");
    this.sendMediaState();
  }

  /** Tell the other side whether my microphone and camera are on and whether I share a screen. */
  sendMediaState() {
    const call = this.call;
    if (call?.state !== "active" || call.id == null || !call.stream) return;
    const screen = Boolean(call.local?.screen);
    this.signaling.send({ type: "media_state", call_id: call.id, ...mediaStateOf(call.stream), screen });
  }

  onMediaState(message) {
    if (!this.matches(message) || message.from !== this.call.peer) return;
    const call = this.call;
    this.remoteState.show(message, call.name);
    const sharing = message.screen === true;
    if (sharing !== Boolean(call.peerSharing)) {
      call.peerSharing = sharing;
      announce(sharing ? `${call.name} is sharing a screen.` : `${call.name} stopped sharing.`);
    }
    showRemoteSharing(sharing);
  }

  /** "Share screen" / "Stop sharing" (the browser's own stop button ends it too). */
  async toggleShare() {
    const local = this.call?.local;
    if (!local) return;
    if (local.screen) {
      local.stopSharing();
      return;
    }
    try {
      await local.startSharing();
    } catch (err) {
      if (err.name !== "NotAllowedError") notice(`Cannot share the screen: ${err.message}`, { kind: "error" });
    }
  }

  /** The in-call "Devices" drawer: switch camera, microphone or speaker mid-call. */
  toggleDevices() {
    const drawer = $("call-devices");
    const open = drawer.hidden && Boolean(this.call?.local);
    drawer.hidden = !open;
    $("call-devices-button").setAttribute("aria-expanded", String(open));
    if (open) devicePanel.show("call-devices", this.call.local);
    else devicePanel.hide();
  }

  // --- Ending ---------------------------------------------------------------------------

  /** Hang up an active call, or cancel one that is still ringing. */
  async hangup() {
    const call = this.call;
    if (!call) return;
    const seconds = call.state === "active" ? this.timer.seconds : null;
    this.teardown();
    const text = seconds == null ? "Call cancelled." : `Call ended · ${formatDuration(seconds)}`;
    notice(text);
    announce(text);
    this.onIdle();
    if (call.id == null) return; // POST /call/start has not answered yet; dial() will see
    try {
      await api.endCall(call.id);
    } catch (err) {
      notice(err.message, { kind: "error" });
    }
    this.onIdle();
  }

  onEnd(message) {
    if (!this.matches(message)) return;
    const call = this.call;
    const wasActive = call.state === "active";
    this.teardown();
    const seconds = wasActive ? this.timer.seconds : 0;
    const text = endText(message.type, call, message.call ?? {}, seconds);
    notice(text);
    announce(text);
    this.onIdle();
  }

  /** A socket (re)connected: reconcile with the server's list of my live calls. */
  onWelcome(welcome) {
    const calls = welcome.calls ?? [];
    const call = this.call;
    if (call && call.id != null && call.state !== "dialing") {
      const live = calls.find((c) => c.call_id === call.id);
      if (!live) {
        this.teardown();
        notice(`The call with ${call.name} ended while you were offline.`);
        this.onIdle();
      } else if (welcome.reconnected && live.peer_online) {
        // Our own network path may have changed. (If the peer is still away, an offer would
        // be lost; its `peer_reconnected` will trigger the restart instead.)
        this.session?.restartIce();
      }
      return;
    }
    if (call) return;
    // A fresh page (reload) while a call is still live: pick it up again.
    const ringing = calls.find((c) => c.state === "ringing" && c.role === "callee");
    if (ringing) {
      this.onIncoming({ call_id: ringing.call_id, from: ringing.peer });
      return;
    }
    const active = calls.find((c) => c.state === "active");
    if (active) this.rejoin(active);
  }

  rejoin(entry) {
    this.ringtone.unlock();
    const isCaller = entry.call?.caller ? entry.call.caller === this.me : entry.role === "caller";
    this.call = { id: entry.call_id, peer: entry.peer, name: entry.peer, early: [] };
    this.call.role = isCaller ? "caller" : "callee";
    this.startMedia();
  }

  teardown() {
    const call = this.call;
    this.call = null;
    this.ringtone.stop();
    this.timer.stop();
    if (!call) return;
    devicePanel.hide();
    $("call-devices").hidden = true;
    $("call-devices-button").setAttribute("aria-expanded", "false");
    showSharing(false, null);
    this.chat.detach();
    this.remoteState.clear();
    call.stopSpeaking?.();
    delete $("screen-call").querySelector(".stage").dataset.speaking;
    call.session?.close();
    call.stream?.getTracks().forEach((t) => t.stop());
    call.media?.then((local) => local.stop());
    clearVideos();
  }
}
