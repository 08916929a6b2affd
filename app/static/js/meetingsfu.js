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
// Janus for the layer its tile needs (simulcastlayer.js), again whenever the tile's size
// settles at a new one.

import { api } from "./api.js";
import { drawnWidth, pickLayer } from "./simulcastlayer.js";

// A tile's size must hold this long before its layer is reconsidered: a layout change
// resizes tiles several times in a row, and each switch costs a key frame.
const LAYER_SETTLE_MS = 300;
// My upload: the high layer as captured, the low one half as wide (Janus's substream 0).
const LAYERS = [
  { rid: "h", active: true, maxBitrate: 900_000 },
  { rid: "l", active: true, maxBitrate: 150_000, scaleResolutionDownBy: 2 },
];

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

/** One remote participant's feed: a receive-only connection, shown like a MeetingPeer. */
export class FeedPeer extends EventTarget {
  constructor(user, feed) {
    super();
    this.user = user;
    this.feed = feed;
    this.handle = null;
    this.closed = false;
    this.lastOfferAt = 0;
    this.remoteStream = new MediaStream();
    this.videoMid = null; // the mid of their camera on my subscription
    this.video = null; // the <video> of their tile, whose size picks the layer
    this.layer = null; // the simulcast layer I asked for (null: Janus's default, the highest)
    this.highWidth = 0; // the widest frame seen: their high layer's width
    this.layerTimer = null;
    this.observer = null;
  }

  get pc() {
    return this.handle?.webrtcStuff?.pc ?? null;
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  onTrack(track, mid, on) {
    if (track.kind === "video" && on) this.videoMid = mid;
    if (on && !this.remoteStream.getTracks().includes(track)) this.remoteStream.addTrack(track);
    if (!on) this.remoteStream.removeTrack(track);
    this.emit("remote-stream", this.remoteStream);
  }

  /** Senders belong to the publisher, not to a feed (receive only). */
  replaceTrack() {}

  /** As MeetingPeer.follow: nothing to send on a feed; the publisher follows instead. */
  follow() {}

  /** Ask for the layer `video` (this feed's tile) needs, now and whenever its size settles. */
  watchSize(video) {
    this.observer?.disconnect();
    this.video = video;
    const settle = () => {
      clearTimeout(this.layerTimer);
      this.layerTimer = setTimeout(() => this.fitLayer(), LAYER_SETTLE_MS);
    };
    video.addEventListener("resize", settle); // a frame of another size: maybe a new layer
    if (typeof window.ResizeObserver === "function") {
      this.observer = new window.ResizeObserver(settle);
      this.observer.observe(video);
    }
    settle();
  }

  /** Switch to the layer the tile's drawn width calls for, if it is not the one I get. */
  fitLayer() {
    const video = this.video;
    if (this.closed || !video || !this.handle || this.videoMid == null || !video.videoWidth) return;
    this.highWidth = Math.max(this.highWidth, video.videoWidth);
    const drawn = drawnWidth({
      width: video.clientWidth,
      height: video.clientHeight,
      aspect: video.videoWidth / video.videoHeight,
      fit: window.getComputedStyle(video).objectFit,
      pixelRatio: window.devicePixelRatio || 1,
    });
    const layer = pickLayer(drawn, this.highWidth, this.layer);
    if (layer === this.layer) return;
    this.layer = layer;
    this.handle.send({
      message: { request: "configure", streams: [{ mid: this.videoMid, substream: layer }] },
    });
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.layerTimer);
    this.observer?.disconnect();
    this.handle?.detach();
    for (const track of this.remoteStream.getTracks()) track.stop();
  }
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
    if (message.error) this.fail(`Media server: ${message.error}`);
    if (message.videoroom === "joined") {
      this.privateId = message.private_id;
      this.publish(stream);
    }
    if (message.publishers) for (const p of message.publishers) this.subscribe(p.id);
    const gone = message.unpublished ?? message.leaving;
    if (gone !== undefined && gone !== "ok") this.unsubscribe(gone);
    if (jsep) this.publisher.handleRemoteJsep({ jsep });
  }

  publish(stream) {
    const tracks = stream.getTracks().map((track) => ({
      type: track.kind,
      capture: track,
      recv: false,
      // Small tiles take the low layer where the browser supports simulcast.
      ...(track.kind === "video" ? { simulcast: true, sendEncodings: LAYERS } : {}),
    }));
    this.publisher.createOffer({
      tracks,
      success: (offer) => this.publisher.send({ message: { request: "publish" }, jsep: offer }),
      error: (err) => this.fail(`Could not publish: ${err?.message ?? err}`),
    });
  }

  /** Send `track` (a new device, or the shared screen) in place of my current `kind` one. */
  replaceTrack(kind, track) {
    const pc = this.publisher?.webrtcStuff?.pc;
    const sender = pc?.getSenders().find((s) => s.track?.kind === kind);
    sender?.replaceTrack(track).catch((err) => this.fail(`Could not switch ${kind}: ${err.message}`));
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
