// Inline SVG icons for the call and meeting buttons (drawn here, no icon font or CDN), and
// the one way to change such a button's words: `.btn-text` holds them, so the icon stays.
// Icons are decorative (aria-hidden): the words remain the button's accessible name.

const SVG = "http://www.w3.org/2000/svg";

// 24x24 outline drawings: each is a list of SVG path `d` strings.
export const ICONS = {
  mic: ["M12 3a3 3 0 0 0-3 3v6a3 3 0 0 0 6 0V6a3 3 0 0 0-3-3z", "M5 11a7 7 0 0 0 14 0", "M12 18v3"],
  "mic-off": ["M9 6a3 3 0 0 1 6 0v5", "M15 13a3 3 0 0 1-6-1V9", "M5 11a7 7 0 0 0 11.5 5.3", "M19 11a7 7 0 0 1-.6 2.8", "M12 18v3", "M3 3l18 18"],
  camera: ["M3 7h12v10H3z", "M15 10l6-3v10l-6-3"],
  "camera-off": ["M3 7h12v10H3z", "M15 10l6-3v10l-6-3", "M2 3l20 18"],
  screen: ["M3 4h18v12H3z", "M8 20h8", "M12 16v4", "M12 13V7", "M9 10l3-3 3 3"],
  devices: ["M4 6h10", "M18 6h2", "M16 4v4", "M4 12h4", "M12 12h8", "M10 10v4", "M4 18h10", "M18 18h2", "M16 16v4"],
  chat: ["M4 5h16v11H9l-5 4z"],
  hand: ["M8 13V6a1.5 1.5 0 0 1 3 0v5", "M11 11V4.5a1.5 1.5 0 0 1 3 0V11", "M14 11V6a1.5 1.5 0 0 1 3 0v8a6 6 0 0 1-6 6h-1a6 6 0 0 1-5-2.7L3 14a1.5 1.5 0 0 1 2.5-1.6L8 15"],
  smile: ["M12 3a9 9 0 1 0 0 18a9 9 0 1 0 0-18z", "M8 14a5 5 0 0 0 8 0", "M9 9.5h.01", "M15 9.5h.01"],
  lock: ["M6 11h12v9H6z", "M8 11V8a4 4 0 0 1 8 0v3"],
  unlock: ["M6 11h12v9H6z", "M8 11V8a4 4 0 0 1 7.5-2"],
  hangup: ["M3 14c5-5 13-5 18 0l-2 3-4-1.5v-3a10 10 0 0 0-6 0v3L5 17z"],
  leave: ["M10 4H5v16h5", "M14 8l4 4-4 4", "M9 12h9"],
  end: ["M12 3a9 9 0 1 0 0 18a9 9 0 1 0 0-18z", "M9 9l6 6", "M15 9l-6 6"],
};

/** An <svg> of icon `name`, hidden from assistive technology. */
export function icon(name) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  svg.setAttribute("class", "icon");
  svg.dataset.icon = name;
  for (const d of ICONS[name] ?? []) {
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("d", d);
    svg.append(path);
  }
  return svg;
}

/**
 * Set `button`'s words and icon. The words live in a `.btn-text` span (made on first use,
 * from the button's text), so changing them leaves the icon and any badge in place.
 */
export function setButton(button, text, iconName = null) {
  let words = button.querySelector(".btn-text");
  if (!words) {
    words = document.createElement("span");
    words.className = "btn-text";
    words.textContent = button.textContent.trim();
    button.replaceChildren(words);
  }
  if (text != null) words.textContent = text;
  const key = button.dataset.key;
  button.dataset.tooltip = key ? `${words.textContent} (${key.toUpperCase()})` : words.textContent;
  const name = iconName ?? button.dataset.icon;
  const current = button.querySelector("svg.icon");
  if (name && current?.dataset.icon !== name) {
    const fresh = icon(name);
    if (current) current.replaceWith(fresh);
    else button.prepend(fresh);
  }
}

/** Give every `button[data-icon]` under `root` its icon (once, at start). */
export function decorateButtons(root = document) {
  for (const button of root.querySelectorAll("button[data-icon]")) setButton(button, null);
}
