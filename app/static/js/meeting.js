// A meeting on this device: joining (perhaps through the waiting room), one MeetingPeer per
// other participant (a mesh), the host's moderation, and leaving. The server's events
// (PROTOCOL.md "Meetings") drive every change; meetingview.js only shows what this says.
//
// States: joining -> waiting -> in -> over (waiting is skipped without a waiting room).
// Events: "state", "roster" (participants, away), "waiting" (the host's list), "host",
// "locked", "local-stream" (the LocalMedia), "sharing" (true | false: this device),
// "sharer" ({user, takenFrom}: who shares a screen now, one at a time, null for nobody),
// "arrived" ({user, back}: someone came in, or came back after a drop), "departed" ({user,
// reason}: left or removed),
// "peer" ({user, peer}: a new MeetingPeer), "mute-request"
// ({from}), "media-state" ({user, state}: their microphone and camera), "hand" ({user,
// raised, by}), "reaction" ({user, emoji}), "error" ({text}: an action was refused),
// "over" ({text, kind}).
//
// My own media state (and my raised hand) goes out when I am let in, when it changes, and
// whenever someone joins: the server keeps none of it, so a newcomer learns it from us.
//
// An SFU meeting (`media: "sfu"`) has no mesh: meetingsfu.js publishes to the meeting's
// Janus room and its feeds stand in for the peers, one per other participant.
//
// The invite token is a private field: it goes into join_meeting and, for the meeting's
// creator, into the invite link shown on screen; nowhere else.

import { api } from "./api.js";
import { getLocalMedia } from "./call.js";
import { MeetingPeer } from "./meetingpeer.js";
import { SfuMedia } from "./meetingsfu.js";
import { mediaStateOf } from "./tilestate.js";

// Server events about a meeting, and the method that handles each.
const SERVER_EVENTS = {
  meeting_joined: "onJoined",
  participant_joined: "onParticipantJoined",
  participant_left: "onParticipantLeft",
  participant_disconnected: "onParticipantDisconnected",
  waiting_room: "onWaitingRoom",
  waiting_list: "onWaitingList",
  join_denied: "onJoinDenied",
  removed: "onRemoved",
  host_changed: "onHostChanged",
  meeting_locked: "onLocked",
  meeting_ended: "onEnded",
  media_moved: "onMediaMoved",
  mute_request: "onMuteRequest",
  screen_share: "onScreenShare",
  media_state: "onMediaState",
  hand: "onHand",
  reaction: "onReaction",
  offer: "onNegotiation",
  answer: "onNegotiation",
  candidate: "onNegotiation",
};
// A participant_joined right after their new offer (possible across daemons) must not
// throw away the connection that offer just started.
const FRESH_OFFER_MS = 3000;

const JOIN_ERRORS = {
  meeting_not_found: "This meeting link is not valid (or the meeting is not yours to see).",
  room_full: "The meeting is full.",
  meeting_locked: "The host has locked the meeting.",
  join_denied: "The host has turned down your requests to join.",
  removed: "The host removed you from this meeting.",
  invite_expired: "This invite link has expired.",
  invite_used_up: "This invite link has been used up.",
  meeting_ended: "The meeting has ended.",
};

export class Meeting extends EventTarget {
  #invite;

  /**
   * id, invite (token, or null to rejoin), signaling, me (my username), creator (true when
   * this page created it: the invite link may be shown), info (the meeting view, if known).
   */
  constructor({ id, invite = null, signaling, me, creator = false, info = null }) {
    super();
    this.#invite = invite;
    this.id = id;
    this.signaling = signaling;
    this.me = me;
    this.creator = creator;
    this.info = info;
    this.state = "joining";
    this.host = info?.host ?? null;
    this.locked = Boolean(info?.locked);
    this.participants = []; // admitted usernames, me included
    this.away = new Set(); // dropped, maybe back within the grace period
    this.waiting = []; // the host's view of the waiting room
    this.peers = new Map(); // username -> MeetingPeer (mesh) or FeedPeer (sfu)
    this.sfu = null; // SfuMedia, in an SFU meeting
    this.sfuCredential = null; // my way into its Janus room, from the join ack
    this.stream = null;
    this.mediaStates = new Map(); // username -> {audio, video}, as they last told us
    this.hands = new Set(); // usernames with a raised hand, me included
    this.sharer = info?.sharer ?? null; // who shares a screen (the daemon allows one)
    this.chain = Promise.resolve();
    this.abort = new AbortController();
  }

  get isHost() {
    return this.host === this.me;
  }

  /** The link to share, `<origin>/#meeting=<id>&invite=<token>`; null unless we created it. */
  inviteLink() {
    if (!this.creator || !this.#invite) return null;
    const invite = encodeURIComponent(this.#invite);
    return `${window.location.origin}/#meeting=${this.id}&invite=${invite}`;
  }

  /** For tests and debugging: what is going on, and the peer connections (no token). */
  snapshot() {
    const peers = {};
    for (const [user, peer] of this.peers) peers[user] = peer.pc;
    return {
      id: this.id,
      state: this.state,
      me: this.me,
      host: this.host,
      isHost: this.isHost,
      locked: this.locked,
      participants: [...this.participants],
      waiting: [...this.waiting],
      hands: [...this.hands],
      sharer: this.sharer,
      peers,
      publisher: this.sfu?.publisher?.webrtcStuff?.pc ?? null, // SFU meetings: my one upload
      // SFU meetings: the simulcast layer asked for each feed (0 low, 1 high, null default).
      layers: Object.fromEntries([...this.peers].map(([user, peer]) => [user, peer.layer ?? null])),
    };
  }

  emit(type, detail = null) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  start() {
    const { signal } = this.abort;
    for (const [type, method] of Object.entries(SERVER_EVENTS)) {
      this.signaling.addEventListener(
        type,
        (event) => {
          const message = event.detail;
          if (message.meeting_id !== this.id || this.state === "over") return;
          this.enqueue(() => this[method](message));
        },
        { signal },
      );
    }
    // A new socket: join again (after a drop we are a newcomer once more).
    this.signaling.addEventListener("welcome", () => this.join(), { signal });
    this.media = getLocalMedia().then((local) => {
      if (this.state === "over") local.stop();
      else {
        this.local = local;
        this.stream = local.stream;
        // A new device goes out on every connection's existing sender; a shared screen on
        // its own transceiver, beside the camera (meetingpeer.js).
        local.addEventListener("track", ({ detail }) => {
          for (const peer of this.peers.values()) peer.follow(local, detail.kind);
          // SFU: the device on my upload's sender, the screen as a stream of its own.
          this.sfu?.follow(local, detail.kind);
        });
        local.addEventListener("sharing", ({ detail }) => {
          // Stopped here (button, or the browser's own "Stop sharing"): free the screen.
          if (!detail && this.sharer === this.me) this.releaseScreen();
          this.emit("sharing", detail);
        });
        this.emit("local-stream", local);
        this.sendMediaState(); // let in before the camera answered: tell them now
      }
      return local;
    });
    this.iceServers = api.iceServers().then(
      (answer) => answer.ice_servers,
      () => this.signaling.welcome?.ice_servers ?? [],
    );
    this.emit("state", this.state);
    this.join();
  }

  /** Events are handled one at a time, in order (some wait for the camera first). */
  enqueue(task) {
    this.chain = this.chain.then(task).catch((err) => console.error("meeting event failed", err));
  }

  async join() {
    if (this.state === "over" || !this.signaling.ready) return; // the next welcome joins
    const message = { type: "join_meeting", meeting_id: this.id };
    if (this.#invite && !this.creator) message.invite = this.#invite; // the host needs none
    let reply;
    try {
      reply = await this.signaling.request(message);
    } catch {
      return; // the socket dropped: the next welcome joins again
    }
    if (reply.type === "ack" && reply.meeting?.sfu) this.sfuCredential = reply.meeting.sfu;
    if (reply.type === "error" && this.state !== "over") {
      this.finish(JOIN_ERRORS[reply.code] ?? reply.message ?? "Could not join the meeting.", "error");
    }
  }

  // --- Server events ----------------------------------------------------------------------

  async onJoined(message) {
    this.state = "in";
    this.info = message.meeting ?? this.info;
    this.host = this.info?.host ?? this.host;
    this.locked = Boolean(this.info?.locked);
    if (!this.creator) this.#invite = null; // admitted: rejoining needs no invite
    this.sharer = this.info?.sharer ?? null;
    if (this.sharer === this.me && !this.local?.screen) this.releaseScreen(); // rejoined
    const others = (message.participants ?? []).filter((u) => u !== this.me);
    this.participants = [this.me, ...others];
    this.away.clear();
    for (const user of [...this.peers.keys()]) if (!others.includes(user)) this.dropPeer(user);
    this.emit("state", this.state);
    this.emit("host", this.host);
    this.emit("locked", this.locked);
    this.emit("roster");
    this.emit("sharer", { user: this.sharer, takenFrom: null });
    this.sendPresence();
    if (this.info?.media === "sfu") {
      await this.startSfu();
      return;
    }
    // We are the newcomer: offer to everyone already here, each on a fresh connection.
    for (const user of others) (await this.replacePeer(user, true))?.offer();
  }

  /** SFU meeting: publish to its Janus room and show each other participant's feed. */
  async startSfu() {
    this.sfu?.close();
    for (const user of [...this.peers.keys()]) this.dropPeer(user);
    const credential = this.sfuCredential ?? (await api.meeting(this.id).catch(() => null))?.sfu;
    const local = await this.media;
    if (!credential || this.state !== "in") return;
    const sfu = new SfuMedia({
      meetingId: this.id,
      sfu: credential,
      me: this.me,
      iceServers: await this.iceServers,
    });
    this.sfu = sfu;
    sfu.addEventListener("feed", ({ detail }) => {
      this.dropPeer(detail.user);
      this.peers.set(detail.user, detail.peer);
      this.emit("peer", detail);
    });
    sfu.addEventListener("feed-gone", ({ detail }) => {
      if (this.peers.get(detail.user) === detail.peer) this.dropPeer(detail.user);
    });
    sfu.addEventListener("error", ({ detail }) => this.emit("error", detail));
    sfu.setScreen(local.screen); // already sharing (a rejoin, a moved meeting): sent on publish
    try {
      await sfu.start(local.stream);
    } catch (err) {
      this.emit("error", { text: `Cannot reach the media server: ${err.message}` });
    }
  }

  async onParticipantJoined(message) {
    const user = message.user;
    if (user === this.me || this.state !== "in") return;
    this.arrive(user);
    this.emit("roster");
    this.sendPresence(); // the newcomer cannot know whether I am muted or my hand is up
    if (this.sfu) return; // their feed shows up when they publish
    const current = this.peers.get(user);
    if (current && Date.now() - current.lastOfferAt < FRESH_OFFER_MS) return;
    await this.replacePeer(user, false); // wait for their offer
  }

  async onNegotiation(message) {
    if (this.state !== "in" || this.sfu) return;
    const user = message.from;
    let peer = this.peers.get(user);
    if (!peer) {
      if (message.type !== "offer") return; // about a connection that is gone
      // Their offer came before participant_joined: the server vouches for them.
      this.arrive(user);
      this.emit("roster");
      peer = await this.replacePeer(user, false);
      if (!peer) return;
    }
    peer.handleSignal(message);
  }

  /** `user` is here (new, or back after a drop): said once, however we learnt it. */
  arrive(user) {
    const back = this.away.delete(user);
    if (this.participants.includes(user) && !back) return;
    if (!this.participants.includes(user)) this.participants.push(user);
    this.emit("arrived", { user, back });
  }

  onParticipantLeft(message) {
    if (this.participants.includes(message.user) && message.user !== this.me) {
      this.emit("departed", { user: message.user, reason: message.reason ?? "left" });
    }
    if (this.sharer === message.user) {
      this.sharer = null; // the server freed the screen as they left
      this.emit("sharer", { user: null, takenFrom: null });
    }
    this.dropPeer(message.user);
    this.mediaStates.delete(message.user);
    if (this.hands.delete(message.user)) this.emit("hand", { user: message.user, raised: false });
    this.participants = this.participants.filter((u) => u !== message.user);
    this.away.delete(message.user);
    this.emit("roster");
  }

  onParticipantDisconnected(message) {
    // Their device dropped: they come back as a newcomer (and offer) or leave.
    this.dropPeer(message.user);
    if (!this.away.has(message.user)) this.emit("departed", { user: message.user, reason: "disconnected" });
    this.away.add(message.user);
    this.emit("roster");
  }

  onWaitingRoom(message) {
    this.state = "waiting";
    this.info = message.meeting ?? this.info;
    this.host = this.info?.host ?? this.host;
    this.emit("state", this.state);
  }

  onWaitingList(message) {
    this.waiting = [...(message.waiting ?? [])];
    this.emit("waiting", this.waiting);
  }

  onJoinDenied() {
    this.finish("The host did not let you in.", "error");
  }

  onRemoved() {
    this.finish("The host removed you from the meeting.", "error");
  }

  onHostChanged(message) {
    this.host = message.host;
    if (!this.isHost) this.waiting = [];
    this.emit("host", this.host);
    this.emit("waiting", this.waiting);
  }

  onLocked(message) {
    this.locked = Boolean(message.locked);
    this.emit("locked", this.locked);
  }

  onEnded(message) {
    const byHost = message.meeting?.end_reason === "ended_by_host";
    if (byHost && this.isHost) this.finish("You ended the meeting for everyone.");
    else this.finish(byHost ? "The host ended the meeting." : "The meeting has ended.");
  }

  /** Who shares now; if the host took over from me, my screen goes back to the camera. */
  onScreenShare(message) {
    this.sharer = message.user ?? null;
    const takenFrom = message.taken_from ?? null;
    if (takenFrom === this.me) this.local?.stopSharing();
    this.emit("sharer", { user: this.sharer, takenFrom });
  }

  releaseScreen() {
    if (this.state !== "in") return;
    this.signaling.send({ type: "screen_share", meeting_id: this.id, sharing: false });
  }

  /** The meeting's Janus node died: fetch my new credential and join the new room. */
  async onMediaMoved() {
    if (this.state !== "in" || !this.sfu) return;
    this.sfuCredential = null;
    await this.startSfu();
  }

  onMuteRequest(message) {
    this.emit("mute-request", { from: message.from });
  }

  onMediaState(message) {
    const user = message.from;
    if (!user || user === this.me) return;
    const state = { audio: message.audio !== false, video: message.video !== false };
    this.mediaStates.set(user, state);
    this.emit("media-state", { user, state });
  }

  onHand(message) {
    const user = message.user;
    if (!user) return;
    if (message.raised) this.hands.add(user);
    else this.hands.delete(user);
    this.emit("hand", { user, raised: Boolean(message.raised), by: message.by ?? user });
  }

  onReaction(message) {
    if (message.from && message.from !== this.me) this.emit("reaction", { user: message.from, emoji: message.emoji });
  }

  // --- Peers ------------------------------------------------------------------------------

  /** A fresh MeetingPeer for `user` (closing any old one), once camera and ICE are known. */
  async replacePeer(user, isOfferer) {
    const [local, iceServers] = await Promise.all([this.media, this.iceServers]);
    const stream = local.stream;
    if (this.state !== "in") return null;
    this.dropPeer(user);
    const peer = new MeetingPeer({
      meetingId: this.id,
      peer: user,
      isOfferer,
      signaling: this.signaling,
      iceServers,
      localStream: stream,
    });
    this.peers.set(user, peer);
    for (const kind of ["audio", "video"]) peer.outgoing[kind] = local.track(kind);
    peer.screen = local.screen;
    peer.createPeer();
    this.emit("peer", { user, peer });
    return peer;
  }

  dropPeer(user) {
    const peer = this.peers.get(user);
    if (!peer) return;
    this.peers.delete(user);
    peer.close();
    this.emit("peer-gone", { user });
  }

  // --- My actions -------------------------------------------------------------------------

  /** Turn my first `kind` track ("audio" or "video") on or off; returns whether it is on. */
  toggle(kind, on = null) {
    const track = this.stream?.getTracks().find((t) => t.kind === kind);
    if (!track) return null;
    track.enabled = on ?? !track.enabled;
    this.emit("local-stream", { stream: this.stream, error: null });
    this.sendMediaState();
    return track.enabled;
  }

  /** Tell everyone whether my microphone and camera are on (their tiles show it). */
  sendMediaState() {
    if (this.state !== "in" || !this.stream) return;
    const state = mediaStateOf(this.stream);
    this.signaling.send({ type: "media_state", meeting_id: this.id, ...state }, { queue: false });
  }

  /** My media state, and my hand if it is up: for someone who just came in. */
  sendPresence() {
    this.sendMediaState();
    if (this.hands.has(this.me)) this.sendHand(true);
  }

  sendHand(raised, user = null) {
    const message = { type: "hand", meeting_id: this.id, raised };
    if (user) message.user = user;
    return this.signaling.send(message, { queue: false });
  }

  /** "Raise hand" / "Lower hand" for myself; the server's `hand` confirms it to everyone. */
  toggleHand() {
    if (this.state !== "in") return;
    this.sendHand(!this.hands.has(this.me));
  }

  /** The host lowers `user`'s hand. */
  lowerHand(user) {
    if (this.state === "in") this.sendHand(false, user);
  }

  /** One of the fixed reactions, to the others; shown here at once. */
  react(emoji) {
    if (this.state !== "in") return;
    this.signaling.send({ type: "reaction", meeting_id: this.id, emoji }, { queue: false });
    this.emit("reaction", { user: this.me, emoji });
  }

  /**
   * "Share screen" / "Stop sharing"; true while sharing. The daemon allows one sharer at a
   * time: it is asked first (someone else sharing: refused with their name, unless I host
   * and take over), and told again when the screen is not shared after all.
   */
  async toggleShare() {
    const local = this.local;
    if (!local || this.state !== "in") return false;
    if (local.screen) {
      local.stopSharing();
      return false;
    }
    const reply = await this.act({ type: "screen_share", sharing: true });
    if (reply.type !== "ack") return false;
    try {
      await local.startSharing();
    } catch (err) {
      if (err.name !== "NotAllowedError") this.emit("error", { text: `Cannot share the screen: ${err.message}` });
    }
    if (!local.screen) this.releaseScreen();
    return Boolean(local.screen);
  }

  /** A host action over the socket; a refusal is told through "error". */
  async act(fields) {
    let reply;
    try {
      reply = await this.signaling.request({ meeting_id: this.id, ...fields });
    } catch {
      reply = { type: "error", message: "Not connected to the server. Try again in a moment." };
    }
    if (reply.type === "error" && this.state !== "over") this.emit("error", { text: reply.message });
    return reply;
  }

  admit(user = null) {
    return this.act(user ? { type: "admit", user } : { type: "admit" });
  }

  deny(user) {
    return this.act({ type: "deny", user });
  }

  remove(user) {
    return this.act({ type: "remove_participant", user });
  }

  askToMute(user) {
    return this.act({ type: "mute_request", to: user });
  }

  makeHost(user) {
    return this.act({ type: "transfer_host", user });
  }

  setLocked(locked) {
    return this.act({ type: "lock_meeting", locked });
  }

  async endForEveryone() {
    const reply = await this.act({ type: "end_meeting" });
    if (reply.type === "ack") this.finish("You ended the meeting for everyone.");
  }

  /** Leave (or stop waiting). Over the socket when it is up, else over HTTP. */
  leave() {
    if (this.state === "over") return;
    const sent = this.signaling.send(
      { type: "leave_meeting", meeting_id: this.id },
      { queue: false },
    );
    if (!sent) api.leaveMeeting(this.id).catch(() => {});
    this.finish(this.state === "in" ? "You left the meeting." : "You left the waiting room.");
  }

  /** Stop everything on this device; `silent` for a logout. */
  finish(text, kind = "info", { silent = false } = {}) {
    if (this.state === "over") return;
    this.state = "over";
    this.#invite = null;
    this.abort.abort();
    for (const user of [...this.peers.keys()]) this.dropPeer(user);
    this.sfu?.close();
    this.stream?.getTracks().forEach((t) => t.stop());
    this.media?.then((local) => local.stop());
    this.emit("over", { text: silent ? null : text, kind });
  }
}
