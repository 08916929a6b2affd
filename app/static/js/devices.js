// Device choices remembered per browser, and what to tell a person whose camera or
// microphone cannot be used. Pure functions (storage is passed in): tests/js runs them.

const PREFS_KEY = "chimecast.devices";

/** camera / microphone / speaker: a deviceId or "" (the default); the two join choices. */
export const DEFAULT_PREFS = Object.freeze({
  camera: "",
  microphone: "",
  speaker: "",
  cameraOff: false,
  muted: false,
});

/** The saved choices (localStorage: the same in every tab of this browser), or the defaults. */
export function loadPrefs(storage = globalThis.localStorage) {
  let saved = {};
  try {
    saved = JSON.parse(storage?.getItem(PREFS_KEY) ?? "{}") ?? {};
  } catch {
    saved = {}; // damaged: start from the defaults
  }
  const prefs = { ...DEFAULT_PREFS };
  for (const key of ["camera", "microphone", "speaker"]) {
    if (typeof saved[key] === "string") prefs[key] = saved[key];
  }
  for (const key of ["cameraOff", "muted"]) {
    if (typeof saved[key] === "boolean") prefs[key] = saved[key];
  }
  return prefs;
}

/** Save `changes` over the current choices; returns the result. */
export function savePrefs(changes, storage = globalThis.localStorage) {
  const prefs = { ...loadPrefs(storage), ...changes };
  storage?.setItem(PREFS_KEY, JSON.stringify(prefs));
  return prefs;
}

/**
 * getUserMedia constraints for a kind ("audio" | "video"): the chosen device if still there
 * (`ideal`, so a device that went away falls back to another instead of failing).
 */
export function constraintsFor(kind, prefs) {
  const id = kind === "audio" ? prefs.microphone : prefs.camera;
  const base = kind === "video" ? { width: { ideal: 640 }, height: { ideal: 480 } } : {};
  return id ? { ...base, deviceId: { ideal: id } } : kind === "video" ? base : true;
}

const NAMES = { audio: "microphone", video: "camera" };

/** One sentence about a device that failed (`error` from getUserMedia), or "" if none did. */
export function deviceProblem(kind, error) {
  if (!error) return "";
  const device = NAMES[kind];
  const Device = device[0].toUpperCase() + device.slice(1);
  if (error.name === "NotAllowedError" || error.name === "SecurityError") {
    return `${Device} blocked: allow it in the browser’s site settings.`;
  }
  if (error.name === "NotFoundError" || error.name === "OverconstrainedError") {
    return `No ${device} found.`;
  }
  if (error.name === "NotReadableError") return `The ${device} is in use by another program.`;
  return `${Device} unavailable (${error.message || error.name}).`;
}

/**
 * What to tell the person, given the failure (or null) of each kind: the problems, then how
 * the call goes on ("audio only", "video only", or "you can still see and hear the others").
 */
export function mediaMessage(errors) {
  const problems = ["video", "audio"].map((k) => deviceProblem(k, errors[k])).filter(Boolean);
  if (!problems.length) return "";
  let outcome = "You can still see and hear the others.";
  if (!errors.audio) outcome = "You take part with sound only.";
  else if (!errors.video) outcome = "You take part with video only (no sound from you).";
  return `${problems.join(" ")} ${outcome}`;
}
