// DOM helpers. Every user-supplied string goes in through textContent, never as HTML.

export const $ = (id) => document.getElementById(id);

const SCREENS = ["auth", "home", "outgoing", "incoming", "call", "waiting", "meeting", "settings"];

/** Show one screen, hide the others, and move keyboard focus to `focus` (an element id). */
export function showScreen(name, focus = null) {
  for (const screen of SCREENS) $(`screen-${screen}`).hidden = screen !== name;
  document.body.dataset.screen = name;
  const target = focus ? $(focus) : null;
  if (target) requestAnimationFrame(() => target.focus());
}

export function currentScreen() {
  return document.body.dataset.screen;
}

export function setText(id, text) {
  $(id).textContent = text ?? "";
}

/** Show a message in an element that is hidden while empty. */
export function showMessage(id, text) {
  const el = $(id);
  el.textContent = text ?? "";
  el.hidden = !text;
}

let noticeTimer = null;

/** A transient message at the top of the page (call ended, declined, ...). */
export function notice(text, { kind = "info", ms = 6000 } = {}) {
  const el = $("notice");
  clearTimeout(noticeTimer);
  el.textContent = text;
  el.dataset.kind = kind;
  el.hidden = false;
  if (ms) noticeTimer = setTimeout(() => (el.hidden = true), ms);
}

/**
 * Say `text` to screen readers (the page's aria-live region) without showing it: call and
 * meeting events the eye sees elsewhere. Cleared first so the same words are said again.
 */
export function announce(text) {
  const region = $("announcer");
  if (!region || !text) return;
  region.textContent = "";
  requestAnimationFrame(() => (region.textContent = text));
}

export function clearNotice() {
  clearTimeout(noticeTimer);
  $("notice").hidden = true;
}

/** The signaling banner: text, or null to hide it. */
export function banner(text) {
  $("connection-banner").hidden = !text;
  setText("connection-banner-text", text ?? "");
  document.body.dataset.signaling = text ? "down" : "up";
}

export function formatDuration(seconds) {
  const total = Math.max(0, Math.floor(seconds ?? 0));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

export function el(tag, { className, text, attrs } = {}) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  for (const [name, value] of Object.entries(attrs ?? {})) node.setAttribute(name, value);
  return node;
}

export const PRESENCE_LABELS = { online: "Online", in_call: "In a call", offline: "Offline" };

/** Search results: one row per user with a Call button (`onCall(username)`). */
export function renderUsers(users, me, onCall) {
  const list = $("search-results");
  list.replaceChildren();
  for (const user of users) {
    const item = el("li", {
      className: "list-item",
      attrs: { "data-testid": "search-result", "data-username": user.username },
    });
    const who = el("div", { className: "who" });
    who.append(
      el("span", { className: "name", text: user.display_name || user.username }),
      el("span", { className: "username muted", text: `@${user.username}` }),
    );
    const presence = el("span", {
      className: `presence presence-${user.presence}`,
      text: PRESENCE_LABELS[user.presence] ?? user.presence,
    });
    item.append(who, presence);
    if (user.username !== me) {
      const button = el("button", {
        className: "btn btn-accept",
        text: "Call",
        attrs: { type: "button", "data-testid": "call-button", "aria-label": `Call ${user.display_name || user.username}` },
      });
      button.addEventListener("click", () => onCall(user.username));
      item.append(button);
    }
    list.append(item);
  }
  if (!users.length) list.append(el("li", { className: "muted", text: "Nobody found." }));
}

/** A running mm:ss counter in element `id` from `startedAt` (ms since epoch). */
export class CallTimer {
  constructor(id) {
    this.id = id;
    this.timer = null;
    this.startedAt = null;
  }

  start(startedAt = Date.now()) {
    this.stop();
    this.startedAt = startedAt;
    const tick = () => setText(this.id, formatDuration((Date.now() - this.startedAt) / 1000));
    tick();
    this.timer = setInterval(tick, 1000);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
  }

  get seconds() {
    return this.startedAt ? (Date.now() - this.startedAt) / 1000 : 0;
  }
}
