// The media of an SFU meeting: I publish one stream to the meeting's Janus VideoRoom and
// subscribe to each other participant's feed there (janus.js from Debian's
// libjs-janus-gateway, served by the web app at /vendor/janus.js: no CDN).
//
// ChimeCast's credential (the meeting's `sfu`, mine only while I am admitted) opens the
// room: the Janus API URL, the room, my Janus token, my feed id, and the feed id of every
// participant (`feeds`, username -> feed), so a feed is shown under the user ChimeCast
// says it belongs to; a feed nobody owns is not shown. Events: "feed" ({user, peer}: a
// FeedPeer, like a MeetingPeer for the grid), "feed-gone" ({user}), "error" ({text}).
//
// Simulcast: I upload two layers of my camera, the low one half as wide; each feed asks
// Janus for the layer its tile needs (sfufeed.js). A shared screen goes beside the camera
// as a second video stream of the same upload, labelled "screen" (Janus multistream:
// `configure` with a new offer and `descriptions`), so the others get both at once.

import { api } from "./api.js";
import { FeedPeer } from "./sfufeed.js";

// My upload: the high layer as captured, the low one half as wide (Janus's substream 0).
const LAYERS = [
  { rid: "h", active: true, maxBitrate: 900_000 },
  { rid: "l", active: true, maxBitrate: 150_000, scaleResolutionDownBy: 2 },
];

// How long an offer of my upload may wait for Janus's answer before the next one goes.
const ANSWER_MS = 10_000;

let loading = null;

/** window.Janus, loaded and initialized once. */
function loadJanus() {
  loading ??= new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = "/vendor/janus.js";
    script.onerror = () => reject(new Error("the Janus library did not load"));
    script.onload = () => {
      const Janus = window.Janus;
      // janus.js asks webrtc-adapter which browser this is; we only need its answer.
      const chrome = /Chrom(e|ium)\/(\d+)/.exec(navigator.userAgent);
      const browserDetails = chrome
        ? { browser: "chrome", version: Number(chrome[2]) }
        : { browser: "firefox", version: 115 };
      const dependencies = Janus.useDefaultDependencies({ adapter: { browserDetails } });
      Janus.init({ debug: false, dependencies, callback: () => resolve(Janus) });
    };
    document.head.append(script);
  });
  return loading;
}

export class SfuMedia extends EventTarget {
  /** meetingId, sfu (my credential), me (my username), iceServers. */
  constructor({ meetingId, sfu, me, iceServers }) {
    super();
    this.meetingId = meetingId;
    this.sfu = sfu;
    this.me = me;
    this.iceServers = iceServers;
    this.janus = null;
    this.publisher = null;
    this.privateId = null;
    this.feeds = new Map(); // feed id -> FeedPeer
    this.closed = false;
    // Offers of my upload go one at a time, each waiting for Janus's answer.
    this.negotiation = Promise.resolve();
    this.answered = null; // settles the offer waiting for its answer: (error | null) => void
    this.screen = null; // the screen I send beside my camera (null: none)
    this.screenWanted = null;
    this.screenMid = null; // its stream in my upload, kept for the next share
    this.publishing = false;
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  fail(text) {
    if (!this.closed) this.emit("error", { text });
  }

  /** Connect, join as publisher, publish `stream`, and subscribe to whoever publishes. */
  async start(stream) {
    const Janus = await loadJanus();
    this.janus = await new Promise((resolve, reject) => {
      const janus = new Janus({
        server: this.sfu.server,
        token: this.sfu.token,
        iceServers: this.iceServers,
        success: () => resolve(janus),
        error: (err) => reject(new Error(String(err))),
      });
    });
    this.publisher = await this.attach({
      onmessage: (message, jsep) => this.onPublisherMessage(message, jsep, stream),
    });
    const { room, feed, token } = this.sfu;
    this.publisher.send({
      message: { request: "join", ptype: "publisher", room, id: feed, token, display: this.me },
    });
  }

  attach(callbacks) {
    return new Promise((resolve, reject) => {
      this.janus.attach({
        plugin: "janus.plugin.videoroom",
        success: resolve,
        error: (err) => reject(new Error(String(err))),
        ...callbacks,
      });
    });
  }

  onPublisherMessage(message, jsep, stream) {
    if (message.error) {
      this.fail(`Media server: ${message.error}`);
      this.settle(new Error(message.error));
    }
    if (message.videoroom === "joined") {
      this.privateId = message.private_id;
      this.publish(stream);
    }
    for (const p of message.publishers ?? []) {
      if (this.feeds.has(p.id)) this.feeds.get(p.id).offerStreams?.(p.streams);
      else this.subscribe(p.id);
    }
    const gone = message.unpublished ?? message.leaving;
    if (gone !== undefined && gone !== "ok") this.unsubscribe(gone);
    if (jsep) {
      this.publisher.handleRemoteJsep({
        jsep,
        success: () => this.settle(null),
        error: (err) => this.settle(new Error(String(err?.message ?? err))),
      });
    }
  }

  settle(error) {
    const answered = this.answered;
    this.answered = null;
    answered?.(error);
  }

  /** Run `step` (which makes one offer of my upload) after the offers before it. */
  negotiate(step, what) {
    this.negotiation = this.negotiation
      .then(() => (this.closed ? null : step()))
      .catch((err) => this.fail(`Could not ${what}: ${err?.message ?? err}`));
    return this.negotiation;
  }

  /** Offer `tracks` (janus.js's form) and send the offer with `message`; resolves once answered. */
  offerUpload(tracks, message) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.settle(new Error("the media server did not answer")), ANSWER_MS);
      this.answered = (error) => {
        clearTimeout(timer);
        if (error) reject(error);
        else resolve();
      };
      this.publisher.createOffer({
        tracks,
        success: (offer) => this.publisher.send({ message: message(), jsep: offer }),
        error: (err) => this.settle(err instanceof Error ? err : new Error(String(err))),
      });
    });
  }

  publish(stream) {
    const tracks = stream.getTracks().map((track) => ({
      type: track.kind,
      capture: track,
      recv: false,
      // Small tiles take the low layer where the browser supports simulcast.
      ...(track.kind === "video" ? { simulcast: true, sendEncodings: LAYERS } : {}),
    }));
    this.publishing = true;
    this.negotiate(() => this.offerUpload(tracks, () => ({ request: "publish" })), "publish");
    this.negotiate(() => this.applyScreen(), "share the screen"); // shared before publishing
  }

  /** My upload's transceivers for `kind` other than the screen's (the camera, the mic). */
  deviceSender(kind) {
    const pc = this.publisher?.webrtcStuff?.pc;
    const tx = pc?.getTransceivers().find((t) => t.receiver.track.kind === kind && t.mid !== this.screenMid);
    return tx?.sender ?? null;
  }

  /** Send `track` (a new device) in place of my current `kind` one. */
  replaceTrack(kind, track) {
    this.deviceSender(kind)
      ?.replaceTrack(track)
      .catch((err) => this.fail(`Could not switch ${kind}: ${err.message}`));
  }

  /** As MeetingPeer.follow: the device on its sender, and for video the screen beside it. */
  follow(local, kind) {
    this.replaceTrack(kind, local.track(kind));
    if (kind === "video") this.setScreen(local.screen);
  }

  /** Send `track` (a shared screen) beside my camera, as a stream labelled "screen"; null stops it. */
  setScreen(track) {
    this.screenWanted = track ?? null;
    if (!this.publishing) return undefined; // publish() sends it
    return this.negotiate(() => this.applyScreen(), "share the screen");
  }

  async applyScreen() {
    const track = this.screenWanted;
    if (track === this.screen) return;
    const pc = this.publisher.webrtcStuff.pc;
    const tx = pc.getTransceivers().find((t) => t.mid != null && t.mid === this.screenMid);
    if (track && this.screen && tx) {
      await tx.sender.replaceTrack(track); // another screen for the one being sent
      this.screen = track;
      return;
    }
    // A new stream (or the last share's again), or, to stop, the stream taken out.
    const change = !track
      ? { type: "video", mid: this.screenMid, remove: true, recv: false }
      : { type: "video", capture: track, recv: false, ...(tx ? { mid: tx.mid, replace: true } : { add: true }) };
    this.screen = track;
    await this.offerUpload([change], () => {
      this.screenMid ??= pc.getTransceivers().find((t) => t.sender.track === track)?.mid ?? null;
      const message = { request: "configure" };
      if (track) message.descriptions = [{ mid: this.screenMid, description: "screen" }];
      return message;
    });
  }

  /** The username ChimeCast gives `feed` (asking again for someone admitted since). */
  async userOf(feed) {
    const owner = (feeds) => Object.keys(feeds ?? {}).find((user) => feeds[user] === feed);
    let user = owner(this.sfu.feeds);
    if (!user) {
      const fresh = (await api.meeting(this.meetingId).catch(() => null))?.sfu;
      if (fresh) this.sfu = { ...this.sfu, feeds: fresh.feeds };
      user = owner(this.sfu.feeds);
    }
    return user ?? null;
  }

  async subscribe(feed) {
    if (this.closed || this.feeds.has(feed) || feed === this.sfu.feed) return;
    const user = await this.userOf(feed);
    if (!user || this.closed || this.feeds.has(feed)) return;
    const peer = new FeedPeer(user, feed);
    this.feeds.set(feed, peer);
    const handle = await this.attach({
      onmessage: (message, jsep) => {
        if (message.error) this.fail(`Media server: ${message.error}`);
        if (message.streams) peer.describe(message.streams);
        if (message.substream !== undefined) peer.onSubstream(message.mid, message.substream);
        if (!jsep) return;
        handle.createAnswer({
          jsep,
          tracks: [],
          success: (answer) => handle.send({ message: { request: "start" }, jsep: answer }),
          error: (err) => this.fail(`Could not receive ${user}: ${err?.message ?? err}`),
        });
      },
      onremotetrack: (track, mid, on) => peer.onTrack(track, mid, on),
      iceState: (state) => peer.emit("state", state === "connected" ? "connected" : state),
      webrtcState: (up) => peer.emit("state", up ? "connected" : "closed"),
    });
    peer.handle = handle;
    peer.emit("state", "connecting");
    this.emit("feed", { user, peer });
    const { room, token } = this.sfu;
    handle.send({
      message: {
        request: "join",
        ptype: "subscriber",
        room,
        token,
        private_id: this.privateId,
        streams: [{ feed }],
      },
    });
  }

  unsubscribe(feed) {
    const peer = this.feeds.get(feed);
    if (!peer) return;
    this.feeds.delete(feed);
    this.emit("feed-gone", { user: peer.user, peer });
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    for (const peer of this.feeds.values()) peer.close();
    this.feeds.clear();
    this.janus?.destroy({ unload: true });
  }
}
