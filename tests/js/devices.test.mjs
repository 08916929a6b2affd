// Device choices and messages (app/static/js/devices.js). Run: node --test tests/js
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  DEFAULT_PREFS,
  constraintsFor,
  deviceProblem,
  loadPrefs,
  mediaMessage,
  savePrefs,
} from "../../app/static/js/devices.js";

function memoryStorage(initial = {}) {
  const data = new Map(Object.entries(initial));
  return { getItem: (k) => data.get(k) ?? null, setItem: (k, v) => data.set(k, String(v)) };
}

test("choices are remembered and read back", () => {
  const storage = memoryStorage();
  assert.deepEqual(loadPrefs(storage), DEFAULT_PREFS);
  savePrefs({ cameraOff: true, microphone: "mic-2" }, storage);
  savePrefs({ muted: true }, storage);
  assert.deepEqual(loadPrefs(storage), { ...DEFAULT_PREFS, cameraOff: true, muted: true, microphone: "mic-2" });
});

test("damaged or hostile saved choices fall back to the defaults", () => {
  assert.deepEqual(loadPrefs(memoryStorage({ "chimecast.devices": "{not json" })), DEFAULT_PREFS);
  const odd = JSON.stringify({ camera: 5, muted: "yes", __proto__: { x: 1 } });
  assert.deepEqual(loadPrefs(memoryStorage({ "chimecast.devices": odd })), DEFAULT_PREFS);
  assert.deepEqual(loadPrefs(null), DEFAULT_PREFS);
});

test("a chosen device is preferred, never required", () => {
  assert.equal(constraintsFor("audio", DEFAULT_PREFS), true);
  assert.deepEqual(constraintsFor("audio", { ...DEFAULT_PREFS, microphone: "m" }), { deviceId: { ideal: "m" } });
  assert.deepEqual(constraintsFor("video", { ...DEFAULT_PREFS, camera: "c" }).deviceId, { ideal: "c" });
});

test("each failure is explained, with how the call goes on", () => {
  const denied = { name: "NotAllowedError", message: "Permission denied" };
  const missing = { name: "NotFoundError", message: "" };
  assert.equal(deviceProblem("video", null), "");
  assert.match(deviceProblem("video", denied), /^Camera blocked/);
  assert.match(deviceProblem("audio", missing), /^No microphone found/);
  assert.equal(mediaMessage({ audio: null, video: null }), "");
  assert.match(mediaMessage({ audio: null, video: denied }), /sound only/);
  assert.match(mediaMessage({ audio: denied, video: null }), /video only/);
  assert.match(mediaMessage({ audio: missing, video: missing }), /still see and hear the others/);
});
