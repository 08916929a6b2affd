// One other participant's feed in an SFU meeting (meetingsfu.js subscribes): a
// receive-only Janus subscription shown like a MeetingPeer in the grid. Their camera and
// sound go out as "remote-stream", their shared screen (the stream they labelled
// "screen") as "remote-screen", as a mesh connection's do (screensession.js).
//
// Simulcast: the feed asks Janus for the layer its tile needs (simulcastlayer.js), again
// whenever the tile's size settles at a new one.

import { drawnWidth, pickLayer } from "./simulcastlayer.js";

// A tile's size must hold this long before its layer is reconsidered: a layout change
// resizes tiles several times in a row, and each switch costs a key frame.
const LAYER_SETTLE_MS = 300;
// Until Janus says it switched, ask again this often (its key frame requests to a
// publisher are at most one a second), this many times in all.
const LAYER_RETRY_MS = 1500;
const LAYER_ASKS = 6;

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
    this.screenStream = new MediaStream(); // their shared screen, while they share
    this.screenMids = new Set(); // the mids of my subscription that carry a screen
    this.subscribed = null; // their mids that my subscription has (null: not joined yet)
    this.videoMid = null; // the mid of their camera on my subscription
    this.video = null; // the <video> of their tile, whose size picks the layer
    this.layer = null; // the simulcast layer I asked for (null: Janus's default, the highest)
    this.highWidth = 0; // the widest frame seen: their high layer's width
    this.layerNow = null; // the layer Janus says it forwards
    this.layerTimer = null;
    this.retryTimer = null;
    this.observer = null;
  }

  get pc() {
    return this.handle?.webrtcStuff?.pc ?? null;
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /** My subscription's streams now (`streams` of Janus's attached/updated): which are screens. */
  describe(streams) {
    const live = (streams ?? []).filter((s) => s.active !== false && s.feed_mid != null);
    this.subscribed = new Set(live.map((s) => s.feed_mid));
    this.screenMids = new Set(
      live.filter((s) => s.type === "video" && s.feed_description === "screen").map((s) => s.mid),
    );
  }

  /**
   * Their upload's streams now (`streams` of a `publishers` event): subscribe to the ones
   * my subscription lacks (a screen they just started sharing) and drop the ones they
   * stopped sending (Janus does neither by itself).
   */
  offerStreams(streams) {
    if (this.closed || !this.handle || !this.subscribed) return;
    const theirs = (streams ?? []).filter((s) => s.mid != null);
    const fresh = theirs.filter((s) => !s.disabled && !this.subscribed.has(s.mid));
    const stopped = theirs.filter((s) => s.disabled && this.subscribed.has(s.mid));
    if (!fresh.length && !stopped.length) return;
    // Asked once; the answer (`updated`) says what my subscription has.
    for (const s of fresh) this.subscribed.add(s.mid);
    for (const s of stopped) this.subscribed.delete(s.mid);
    const ask = (list) => list.map((s) => ({ feed: this.feed, mid: s.mid }));
    const message = { request: "update" };
    if (fresh.length) message.subscribe = ask(fresh);
    if (stopped.length) message.unsubscribe = ask(stopped);
    this.handle.send({ message });
  }

  /** janus.js's onremotetrack: `track` of my subscription's `mid` came (`on`) or went. */
  onTrack(track, mid, on) {
    const streams = { "remote-stream": this.remoteStream, "remote-screen": this.screenStream };
    if (!on) {
      for (const [type, stream] of Object.entries(streams)) {
        if (!stream.getTracks().includes(track)) continue;
        stream.removeTrack(track);
        this.emit(type, stream);
      }
      return;
    }
    const type = this.screenMids.has(mid) ? "remote-screen" : "remote-stream";
    if (type === "remote-stream" && track.kind === "video") this.videoMid = mid;
    if (!streams[type].getTracks().includes(track)) streams[type].addTrack(track);
    this.emit(type, streams[type]);
  }

  /** Senders belong to the publisher, not to a feed (receive only). */
  replaceTrack() {}

  /** As MeetingPeer.follow: nothing to send on a feed; the publisher follows instead. */
  follow() {}

  /** Ask for the layer `video` (this feed's tile) needs, now and whenever its size settles. */
  watchSize(video) {
    if (!video || video === this.video) return;
    this.observer?.disconnect();
    this.video = video;
    const settle = () => {
      clearTimeout(this.layerTimer);
      this.layerTimer = setTimeout(() => this.fitLayer(), LAYER_SETTLE_MS);
    };
    this.resized?.abort();
    this.resized = new AbortController();
    // A frame of another size: maybe the new layer.
    video.addEventListener("resize", settle, { signal: this.resized.signal });
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
    this.askLayer(LAYER_ASKS);
  }

  /**
   * Ask Janus for `this.layer`, again until it says it switched (`onSubstream`), `asks`
   * times at most. Janus switches on a key frame it requests from the publisher, but it
   * drops a request that comes within a second of the last one for that stream, and then
   * the old layer goes on (seen in 2 of 6 runs of tests/browser/test_meeting_sfu.py: a
   * feed stuck at 640 wide in a 210-px tile).
   */
  askLayer(asks) {
    clearTimeout(this.retryTimer);
    if (this.closed || asks <= 0 || this.layer === this.layerNow) return;
    this.handle.send({
      message: { request: "configure", streams: [{ mid: this.videoMid, substream: this.layer }] },
    });
    this.retryTimer = setTimeout(() => this.askLayer(asks - 1), LAYER_RETRY_MS);
  }

  /** Janus's event: the layer it forwards to me for `mid` is now `substream`. */
  onSubstream(mid, substream) {
    if (mid != null && mid !== this.videoMid) return;
    this.layerNow = substream;
    if (substream === this.layer) clearTimeout(this.retryTimer);
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.layerTimer);
    clearTimeout(this.retryTimer);
    this.observer?.disconnect();
    this.resized?.abort();
    this.handle?.detach();
    for (const track of [...this.remoteStream.getTracks(), ...this.screenStream.getTracks()]) track.stop();
  }
}

