// Keyboard shortcuts in a call or meeting: "m" mute, "v" camera, "s" share the screen,
// "c" chat. A shortcut presses the on-screen button (so it does exactly what a click
// does), never while typing in a field, and never with Ctrl, Alt or Meta held.

export const SHORTCUTS = { m: "mute", v: "camera", s: "share", c: "chat" };

// The button each action presses, per screen.
export const BUTTONS = {
  call: { mute: "mute-button", camera: "camera-button", share: "share-button", chat: "call-chat-button" },
  meeting: { mute: "meeting-mic", camera: "meeting-camera", share: "meeting-share", chat: "meeting-chat-button" },
};

/** Whether typing into `target` should keep its letters (inputs, text areas, selects...). */
export function isTextField(target) {
  if (!target || typeof target !== "object") return false;
  if (target.isContentEditable) return true;
  const tag = String(target.tagName ?? "").toLowerCase();
  if (tag === "textarea" || tag === "select") return true;
  if (tag !== "input") return false;
  const type = String(target.type ?? "text").toLowerCase();
  return !["button", "checkbox", "radio", "range", "submit", "reset", "color", "file"].includes(type);
}

/** The action of a keydown (`{key, ctrlKey, altKey, metaKey, target, repeat}`), or null. */
export function shortcutFor(event) {
  if (event.ctrlKey || event.altKey || event.metaKey || event.repeat) return null;
  if (isTextField(event.target)) return null;
  return SHORTCUTS[String(event.key).toLowerCase()] ?? null;
}

/** The id of the button `event` presses on `screen` ("call", "meeting", ...), or null. */
export function buttonFor(screen, event) {
  const action = shortcutFor(event);
  return action ? (BUTTONS[screen]?.[action] ?? null) : null;
}

/** Listen on `doc`; `currentScreen()` names the screen shown. */
export function installShortcuts(doc, currentScreen) {
  doc.addEventListener("keydown", (event) => {
    const id = buttonFor(currentScreen(), event);
    const button = id ? doc.getElementById(id) : null;
    if (!button || button.disabled || button.hidden) return;
    event.preventDefault();
    button.click();
  });
}

/** "Mute (M)": a button's tooltip with its shortcut. */
export function tooltip(words, key) {
  return key ? `${words} (${key.toUpperCase()})` : words;
}
