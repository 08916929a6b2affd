// The in-call screen: videos, status line, quality indicator, mute/camera buttons, and
// the words shown when a call ends. No call logic here, only what the person sees.

import { applySpeaker } from "./devicepanel.js";
import { setButton } from "./icons.js";
import { describeQuality } from "./stats.js";
import { $, formatDuration, setText, showMessage, showScreen } from "./ui.js";

/** Switch to the in-call screen for a call with `name`, still connecting. */
export function showCallScreen(name) {
  setText("call-title", name);
  showCode(null, name);
  $("call-info-panel").hidden = true;
  $("call-info-button").setAttribute("aria-expanded", "false");
  setText("call-quality-text", "Connecting…");
  $("call-quality").dataset.level = "unknown";
  $("call-quality").dataset.path = "";
  showMessage("call-status", "Connecting…");
  showScreen("call", "hangup-button");
}

// The other side's camera (with their sound) and shared screen, and whether they share now.
const remote = { camera: null, screen: null, sharing: false };

/**
 * Their camera large; or, while they share, their screen large and their camera small in
 * a corner (which then plays the sound).
 */
function renderRemote() {
  const sharing = remote.sharing && Boolean(remote.screen);
  show($("remote-video"), sharing ? remote.screen : remote.camera);
  $("remote-video").classList.toggle("showing-screen", sharing);
  const small = $("remote-camera");
  small.hidden = !sharing;
  show(small, sharing ? remote.camera : null);
}

function show(video, stream) {
  if (video.srcObject === stream) return;
  video.srcObject = stream;
  if (!stream) return;
  applySpeaker(video);
  video.play().catch(() => {}); // autoplay may wait for a click; media flows anyway
}

/** The other side says (`media_state` `screen`) whether they share a screen now. */
export function showRemoteSharing(sharing) {
  remote.sharing = sharing;
  renderRemote();
}

/** Show a ScreenSession's remote videos, connection state and quality as they change. */
export function showSession(session) {
  session.addEventListener("remote-stream", (e) => {
    remote.camera = e.detail;
    renderRemote();
  });
  session.addEventListener("remote-screen", (e) => {
    remote.screen = e.detail;
    renderRemote();
  });
  session.addEventListener("state", (e) => {
    if (e.detail === "connected") showMessage("call-status", "");
    else if (e.detail === "failed") showMessage("call-status", "Connection lost. Retrying…");
    else if (e.detail === "disconnected") showMessage("call-status", "Connection unstable…");
  });
  session.addEventListener("code", (e) => showCode(e.detail, $("call-title").textContent));
  session.addEventListener("quality", (e) => {
    $("call-quality").dataset.level = e.detail.level;
    $("call-quality").dataset.path = e.detail.path ?? "";
    setText("call-quality-text", describeQuality(e.detail));
  });
}

/** The call code (callcode.js) in the call's info panel; null while not negotiated yet. */
export function showCode(code, name) {
  const element = $("call-code");
  element.textContent = code ?? "…";
  element.dataset.code = code ?? "";
  setText("call-code-help", code ? `Compare this code with ${name}.` : "The code appears once connected.");
}

/** The "Call info" button opens and closes the panel with the call code. */
export function toggleInfoPanel() {
  const panel = $("call-info-panel");
  panel.hidden = !panel.hidden;
  $("call-info-button").setAttribute("aria-expanded", String(!panel.hidden));
}

/** While sharing, my inset shows the shared screen and the button says "Stop sharing". */
export function showSharing(sharing, local) {
  const button = $("share-button");
  button.setAttribute("aria-pressed", String(sharing));
  setButton(button, sharing ? "Stop sharing" : "Share screen");
  $("local-video").classList.toggle("sharing", sharing);
  if (local) $("local-video").srcObject = sharing ? new MediaStream([local.screen]) : local.stream;
}

export function showLocalStream(stream) {
  $("local-video").srcObject = stream;
  renderToggles(stream);
}

/** Turn the first track of `kind` ("audio" or "video") on or off. */
export function toggleTrack(stream, kind) {
  const track = stream?.getTracks().find((t) => t.kind === kind);
  if (track) track.enabled = !track.enabled;
  renderToggles(stream);
}

/** Mute and camera buttons: pressed state, label, disabled without that device. */
export function renderToggles(stream) {
  const audio = stream?.getAudioTracks()[0];
  const video = stream?.getVideoTracks()[0];
  const muted = Boolean(audio && !audio.enabled);
  const cameraOff = Boolean(video && !video.enabled);
  const mute = $("mute-button");
  const camera = $("camera-button");
  mute.disabled = !audio;
  camera.disabled = !video;
  mute.setAttribute("aria-pressed", String(muted));
  setButton(mute, muted ? "Unmute" : "Mute", muted ? "mic-off" : "mic");
  camera.setAttribute("aria-pressed", String(cameraOff));
  setButton(camera, cameraOff ? "Camera on" : "Camera off", cameraOff ? "camera-off" : "camera");
  $("local-video").classList.toggle("off", cameraOff);
}

/** Detach every video from its stream. */
export function clearVideos() {
  Object.assign(remote, { camera: null, screen: null, sharing: false });
  $("remote-camera").hidden = true;
  for (const id of ["remote-video", "remote-camera", "local-video", "preview-video"]) $(id).srcObject = null;
  showMessage("call-status", "");
}

/** What to tell the person when the server ends a call (`type` is the event). */
export function endText(type, call, record, seconds) {
  const name = call.name;
  if (type === "ended") {
    const lost = record.end_reason === "connection_lost" ? " (connection lost)" : "";
    return `Call with ${name} ended${lost} · ${formatDuration(record.duration_seconds ?? seconds)}`;
  }
  const caller = call.role === "caller";
  if (type === "declined") return caller ? `${name} declined the call.` : "Call declined.";
  if (type === "missed") return caller ? `${name} did not answer.` : `Missed call from ${name}.`;
  if (type === "cancelled") return caller ? "Call cancelled." : `Missed call from ${name}.`;
  if (type === "busy") return `${name} is in another call.`;
  return "Call ended.";
}
