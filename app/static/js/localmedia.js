// This device's camera, microphone and shared screen: one MediaStream that the preview,
// the call and every meeting connection read. Devices and the screen change by swapping
// tracks (event "track": {kind, track}); senders follow with RTCRtpSender.replaceTrack, so
// nothing is renegotiated.
//
// Events: "track" ({kind, track}: what to send for `kind` now, null for nothing),
// "sharing" (true | false).

import { constraintsFor, loadPrefs, mediaMessage } from "./devices.js";

export class LocalMedia extends EventTarget {
  constructor(stream, errors, prefs) {
    super();
    this.stream = stream; // camera + microphone (maybe neither); never null
    this.errors = errors; // {audio, video}: the getUserMedia error of each, or null
    this.message = mediaMessage(errors);
    this.error = this.message ? new Error(this.message) : null;
    this.prefs = prefs;
    this.screen = null; // the shared screen's track while sharing
    this.stopped = false;
  }

  /**
   * Camera and microphone as chosen (devices.js), each tried on its own so that a denied
   * camera still leaves the microphone (and the reverse); "Join with camera off" and
   * "Join muted" turn the tracks off before anyone receives them.
   */
  static async open(prefs = loadPrefs()) {
    const stream = new MediaStream();
    const errors = { audio: null, video: null };
    const both = { audio: constraintsFor("audio", prefs), video: constraintsFor("video", prefs) };
    try {
      for (const t of (await navigator.mediaDevices.getUserMedia(both)).getTracks()) {
        stream.addTrack(t);
      }
    } catch {
      for (const kind of ["audio", "video"]) {
        try {
          const got = await navigator.mediaDevices.getUserMedia({ [kind]: both[kind] });
          for (const t of got.getTracks()) stream.addTrack(t);
        } catch (err) {
          errors[kind] = err;
        }
      }
    }
    if (!navigator.mediaDevices?.getUserMedia) errors.audio = errors.video = new Error("no media");
    const local = new LocalMedia(stream, errors, prefs);
    const audio = stream.getAudioTracks()[0];
    const video = stream.getVideoTracks()[0];
    if (audio && prefs.muted) audio.enabled = false;
    if (video && prefs.cameraOff) video.enabled = false;
    return local;
  }

  track(kind) {
    return this.stream.getTracks().find((t) => t.kind === kind) ?? null;
  }

  /** What goes to the others for `kind`: the screen while sharing, else the device track. */
  outgoing(kind) {
    if (kind === "video" && this.screen) return this.screen;
    return this.track(kind);
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /** Use another camera or microphone (a deviceId); keeps the on/off state of the old one. */
  async switchDevice(kind, deviceId) {
    if (this.stopped) return;
    const prefs = { ...this.prefs, [kind === "audio" ? "microphone" : "camera"]: deviceId };
    const constraints = constraintsFor(kind, prefs);
    if (deviceId) constraints.deviceId = { exact: deviceId };
    const got = await navigator.mediaDevices.getUserMedia({ [kind]: constraints });
    const track = got.getTracks()[0];
    if (this.stopped) {
      track.stop();
      return;
    }
    const old = this.track(kind);
    if (old) {
      track.enabled = old.enabled;
      this.stream.removeTrack(old);
      old.stop();
    }
    this.stream.addTrack(track);
    this.errors[kind] = null;
    this.prefs = prefs;
    if (kind === "audio" || !this.screen) this.emit("track", { kind, track });
  }

  /** Share a screen or window (getDisplayMedia) in place of the camera. */
  async startSharing() {
    if (this.screen || this.stopped) return;
    const display = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    const track = display.getVideoTracks()[0];
    track.contentHint = "detail"; // text stays sharp rather than fluid
    // The browser's own "Stop sharing" ends the track: back to the camera.
    track.addEventListener("ended", () => this.stopSharing());
    this.screen = track;
    this.emit("track", { kind: "video", track });
    this.emit("sharing", true);
  }

  stopSharing() {
    const screen = this.screen;
    if (!screen) return;
    this.screen = null;
    screen.stop();
    if (this.stopped) return;
    this.emit("track", { kind: "video", track: this.track("video") });
    this.emit("sharing", false);
  }

  stop() {
    this.stopped = true;
    this.stopSharing();
    for (const t of this.stream.getTracks()) t.stop();
  }
}
