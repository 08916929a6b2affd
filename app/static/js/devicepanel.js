// The device panel: camera preview, "Camera" / "Microphone" / "Speaker" pickers, a
// microphone level meter and the "Join with camera off" / "Join muted" choices. One panel
// in the page, moved into whichever screen needs it (incoming call, meeting lobby, settings,
// the in-call drawers); it works on the LocalMedia it is shown with (localmedia.js).

import { loadPrefs, savePrefs } from "./devices.js";
import { $ } from "./ui.js";

const KINDS = { camera: "videoinput", microphone: "audioinput", speaker: "audiooutput" };

/** Play `video`'s sound on the chosen speaker, where the browser can (setSinkId). */
export function applySpeaker(video, prefs = loadPrefs()) {
  if (!video || typeof video.setSinkId !== "function") return;
  if ((video.sinkId ?? "") === prefs.speaker) return;
  video.setSinkId(prefs.speaker).catch((err) => console.warn("speaker not available", err));
}

/** Every video whose sound we hear: the call's remote video and the meeting's remote tiles. */
function remoteVideos() {
  return document.querySelectorAll('#remote-video, [data-remote="true"] video');
}

class DevicePanel {
  constructor() {
    this.media = null; // the LocalMedia shown
    this.ticket = 0;
    this.meter = null; // {context, source, analyser, frame}
    this.bound = false;
  }

  bind() {
    if (this.bound) return;
    this.bound = true;
    $("camera-select").addEventListener("change", (e) => this.onDevice("video", e.target.value));
    $("microphone-select").addEventListener("change", (e) => this.onDevice("audio", e.target.value));
    $("speaker-select").addEventListener("change", (e) => {
      const prefs = savePrefs({ speaker: e.target.value });
      for (const video of remoteVideos()) applySpeaker(video, prefs);
    });
    $("pref-camera-off").addEventListener("change", (e) => savePrefs({ cameraOff: e.target.checked }));
    $("pref-muted").addEventListener("change", (e) => savePrefs({ muted: e.target.checked }));
    navigator.mediaDevices?.addEventListener?.("devicechange", () => this.fillLists());
  }

  /** Move the panel into element `slotId` and show `media` (a LocalMedia or its promise). */
  async show(slotId, media) {
    this.bind();
    const ticket = ++this.ticket;
    const panel = $("device-panel");
    $(slotId).append(panel);
    panel.hidden = false;
    const prefs = loadPrefs();
    $("pref-camera-off").checked = prefs.cameraOff;
    $("pref-muted").checked = prefs.muted;
    const local = await media;
    if (ticket !== this.ticket) return;
    this.media = local;
    this.onTracks = () => this.render();
    local?.addEventListener("track", this.onTracks);
    this.render();
  }

  /** Put the panel away (stops the meter and the preview; the media is the owner's to stop). */
  hide() {
    this.ticket += 1;
    this.media?.removeEventListener("track", this.onTracks);
    this.media = null;
    this.stopMeter();
    $("device-preview").srcObject = null;
    const panel = $("device-panel");
    panel.hidden = true;
    $("device-panel-home").append(panel);
  }

  render() {
    const local = this.media;
    $("device-preview").srcObject = local?.stream ?? null;
    const message = $("device-message");
    message.textContent = local?.message ?? "";
    message.hidden = !local?.message;
    this.fillLists();
    this.startMeter(local?.track("audio") ?? null);
  }

  async onDevice(kind, deviceId) {
    savePrefs({ [kind === "audio" ? "microphone" : "camera"]: deviceId });
    if (!this.media) return;
    try {
      await this.media.switchDevice(kind, deviceId);
    } catch (err) {
      const message = $("device-message");
      message.textContent = `Could not switch: ${err.message || err.name}`;
      message.hidden = false;
    }
  }

  /** The three pickers: the devices the browser lists (labels once permission is given). */
  async fillLists() {
    let devices = [];
    try {
      devices = await navigator.mediaDevices.enumerateDevices();
    } catch {
      devices = [];
    }
    const prefs = loadPrefs();
    const current = {
      camera: this.media?.track("video")?.getSettings().deviceId ?? prefs.camera,
      microphone: this.media?.track("audio")?.getSettings().deviceId ?? prefs.microphone,
      speaker: prefs.speaker,
    };
    for (const [name, kind] of Object.entries(KINDS)) {
      const select = $(`${name}-select`);
      const options = devices.filter((d) => d.kind === kind && d.deviceId);
      select.replaceChildren();
      if (name === "speaker") select.append(new Option("System default", ""));
      options.forEach((d, i) => {
        select.append(new Option(d.label || `${name} ${i + 1}`, d.deviceId));
      });
      if (!select.options.length) select.append(new Option(`No ${name} found`, ""));
      select.value = current[name];
      if (select.selectedIndex < 0) select.selectedIndex = 0;
      select.disabled = name === "speaker" ? !("setSinkId" in HTMLMediaElement.prototype) : !options.length;
    }
  }

  /** The level meter follows the microphone track (RMS of the signal, 0..1). */
  startMeter(track) {
    if (this.meter?.track === track) return;
    this.stopMeter();
    if (!track || typeof AudioContext === "undefined") return;
    const context = new AudioContext();
    const source = context.createMediaStreamSource(new MediaStream([track]));
    const analyser = context.createAnalyser();
    analyser.fftSize = 512;
    source.connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    const meter = { track, context, source, frame: 0 };
    const tick = () => {
      analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const x of samples) sum += x * x;
      const level = track.enabled ? Math.min(1, Math.sqrt(sum / samples.length) * 4) : 0;
      $("mic-level").value = level;
      meter.frame = requestAnimationFrame(tick);
    };
    context.resume().catch(() => {});
    meter.frame = requestAnimationFrame(tick);
    this.meter = meter;
  }

  stopMeter() {
    if (!this.meter) return;
    cancelAnimationFrame(this.meter.frame);
    this.meter.source.disconnect();
    this.meter.context.close().catch(() => {});
    this.meter = null;
    $("mic-level").value = 0;
  }
}

/** The page's one device panel. */
export const devicePanel = new DevicePanel();
