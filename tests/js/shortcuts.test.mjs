// Keyboard shortcuts (shortcuts.js): which key presses which button, and never in a field.
import assert from "node:assert/strict";
import { test } from "node:test";

import { buttonFor, isTextField, shortcutFor, tooltip } from "../../app/static/js/shortcuts.js";

const body = { tagName: "BODY" };

test("m, v, s and c press mute, camera, share and chat on the call and meeting screens", () => {
  assert.equal(buttonFor("call", { key: "m", target: body }), "mute-button");
  assert.equal(buttonFor("call", { key: "V", target: body }), "camera-button");
  assert.equal(buttonFor("meeting", { key: "s", target: body }), "meeting-share");
  assert.equal(buttonFor("meeting", { key: "c", target: { tagName: "BUTTON" } }), "meeting-chat-button");
  assert.equal(buttonFor("home", { key: "m", target: body }), null);
  assert.equal(buttonFor("call", { key: "x", target: body }), null);
});

test("no shortcut while typing, with a modifier, or on key repeat", () => {
  for (const target of [{ tagName: "TEXTAREA" }, { tagName: "INPUT", type: "search" }, { tagName: "SELECT" }, { isContentEditable: true }]) {
    assert.equal(isTextField(target), true, JSON.stringify(target));
    assert.equal(shortcutFor({ key: "m", target }), null);
  }
  assert.equal(isTextField({ tagName: "INPUT", type: "checkbox" }), false);
  assert.equal(shortcutFor({ key: "m", target: body, ctrlKey: true }), null);
  assert.equal(shortcutFor({ key: "m", target: body, metaKey: true }), null);
  assert.equal(shortcutFor({ key: "m", target: body, repeat: true }), null);
  assert.equal(shortcutFor({ key: "m", target: body }), "mute");
});

test("tooltips name the shortcut", () => {
  assert.equal(tooltip("Mute", "m"), "Mute (M)");
  assert.equal(tooltip("Leave", undefined), "Leave");
});
