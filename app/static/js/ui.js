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

const PRESENCE_LABELS = { online: "Online", in_call: "In a call", offline: "Offline" };

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
        attrs: { type: "button", "data-testid": "call-button", "aria-label": `Call ${user.username}` },
      });
      button.addEventListener("click", () => onCall(user.username));
      item.append(button);
    }
    list.append(item);
  }
  if (!users.length) list.append(el("li", { className: "muted", text: "Nobody found." }));
}

/** How a call looks from my side: a label, and whether it counts as missed. */
export function describeCall(call, me) {
  const outgoing = call.caller === me;
  const duration = call.duration_seconds;
  const answered = call.answered_at != null;
  if (call.state === "ringing") return { label: "Ringing…", missed: false, outgoing };
  if (call.state === "active") return { label: "In progress", missed: false, outgoing };
  const reason = call.end_reason;
  if (answered || reason === "hangup" || reason === "connection_lost") {
    const lost = reason === "connection_lost" ? " (connection lost)" : "";
    const kind = outgoing ? "Outgoing call" : "Incoming call";
    return { label: `${kind} · ${formatDuration(duration)}${lost}`, missed: false, outgoing };
  }
  const labels = outgoing
    ? { missed: "No answer", cancelled: "Cancelled", declined: "Declined", busy: "Busy", offline: "No answer (offline)" }
    : {
        missed: "Missed call",
        cancelled: "Missed call",
        declined: "Declined",
        busy: "Missed call (busy)",
        offline: "Missed call (you were offline)",
      };
  // Only an incoming call can be missed: my own unanswered call is "No answer", not red.
  const missed = !outgoing && ["missed", "cancelled", "busy", "offline"].includes(reason);
  return { label: labels[reason] ?? reason ?? "Ended", missed, outgoing };
}

/** Call history, newest first; `onCall(username)` calls back. */
export function renderHistory(calls, me, onCall) {
  const list = $("history-list");
  list.replaceChildren();
  $("history-empty").hidden = calls.length > 0;
  for (const call of calls) {
    const { label, missed, outgoing } = describeCall(call, me);
    const peer = (outgoing ? call.callee : call.caller) ?? "(deleted account)";
    const item = el("li", {
      className: `list-item history-item${missed ? " missed" : ""}`,
      attrs: {
        "data-testid": "history-item",
        "data-call-id": String(call.id),
        "data-direction": outgoing ? "outgoing" : "incoming",
        "data-end-reason": call.end_reason ?? "",
        "data-missed": String(missed),
        "data-duration": call.duration_seconds == null ? "" : String(call.duration_seconds),
      },
    });
    const arrow = el("span", { className: "direction", text: outgoing ? "↗" : "↙" });
    arrow.setAttribute("aria-label", outgoing ? "Outgoing" : "Incoming");
    const who = el("div", { className: "who" });
    const when = new Date(call.created_at);
    who.append(
      el("span", { className: "name", text: peer }),
      el("span", { className: "what", text: label, attrs: { "data-testid": "history-label" } }),
    );
    const time = el("time", {
      className: "muted when",
      text: when.toLocaleString([], { dateStyle: "short", timeStyle: "short" }),
      attrs: { datetime: call.created_at },
    });
    item.append(arrow, who, time);
    if (call.state === "ended" && (outgoing ? call.callee : call.caller)) {
      const button = el("button", {
        className: "btn btn-quiet",
        text: "Call",
        attrs: { type: "button", "aria-label": `Call ${peer} back` },
      });
      button.addEventListener("click", () => onCall(peer));
      item.append(button);
    }
    list.append(item);
  }
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
