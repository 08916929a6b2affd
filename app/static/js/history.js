// The home page's history (calls and meetings, newest first) and recent contacts.
// Names shown are display names; usernames stay in data attributes and "@name" hints.

import { $, PRESENCE_LABELS, el, formatDuration } from "./ui.js";

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

/** A meeting's history row: its name and what it was. */
export function describeMeeting(meeting, me) {
  const name = meeting.name || "Untitled meeting";
  const hosted = meeting.host === me ? " you host" : meeting.host_name ? ` hosted by ${meeting.host_name}` : "";
  if (meeting.state !== "ended") return { name, label: `Meeting${hosted} · in progress` };
  const seconds = (Date.parse(meeting.ended_at) - Date.parse(meeting.created_at)) / 1000;
  const past = meeting.host === me ? " you hosted" : hosted;
  return { name, label: `Meeting${past} · ${formatDuration(seconds)}` };
}

/** Calls and meetings in one list, newest first (`kind` says which each entry is). */
export function mergeHistory(calls, meetings, limit = 20) {
  const entries = [
    ...calls.map((item) => ({ kind: "call", at: Date.parse(item.created_at), item })),
    ...meetings.map((item) => ({ kind: "meeting", at: Date.parse(item.created_at), item })),
  ];
  entries.sort((a, b) => b.at - a.at);
  return entries.slice(0, limit);
}

function glyph(text, label) {
  return el("span", { className: "direction", text, attrs: { role: "img", "aria-label": label } });
}

function timeOf(iso) {
  return el("time", {
    className: "muted when",
    text: new Date(iso).toLocaleString([], { dateStyle: "short", timeStyle: "short" }),
    attrs: { datetime: iso },
  });
}

function callRow(call, me, onCall) {
  const { label, missed, outgoing } = describeCall(call, me);
  const username = outgoing ? call.callee : call.caller;
  const name = (outgoing ? call.callee_name : call.caller_name) || username || "(deleted account)";
  const item = el("li", {
    className: `list-item history-item${missed ? " missed" : outgoing && !call.answered_at ? " unanswered" : ""}`,
    attrs: {
      "data-testid": "history-item",
      "data-call-id": String(call.id),
      "data-username": username ?? "",
      "data-direction": outgoing ? "outgoing" : "incoming",
      "data-end-reason": call.end_reason ?? "",
      "data-missed": String(missed),
      "data-duration": call.duration_seconds == null ? "" : String(call.duration_seconds),
    },
  });
  const who = el("div", { className: "who" });
  who.append(
    el("span", { className: "name", text: name, attrs: { "data-testid": "history-name" } }),
    el("span", { className: "what", text: label, attrs: { "data-testid": "history-label" } }),
  );
  item.append(glyph(outgoing ? "↗" : "↙", outgoing ? "Outgoing" : "Incoming"), who, timeOf(call.created_at));
  if (call.state === "ended" && username) {
    const button = el("button", {
      className: "btn btn-quiet",
      text: "Call",
      attrs: { type: "button", "aria-label": `Call ${name} back` },
    });
    button.addEventListener("click", () => onCall(username, name));
    item.append(button);
  }
  return item;
}

function meetingRow(meeting, me) {
  const { name, label } = describeMeeting(meeting, me);
  const item = el("li", {
    className: "list-item history-item history-meeting",
    attrs: { "data-testid": "history-meeting", "data-meeting-id": String(meeting.id) },
  });
  const who = el("div", { className: "who" });
  who.append(
    el("span", { className: "name", text: name, attrs: { "data-testid": "history-name" } }),
    el("span", { className: "what", text: label, attrs: { "data-testid": "history-label" } }),
  );
  item.append(glyph("👥", "Meeting"), who, timeOf(meeting.created_at));
  return item;
}

/** Calls and meetings, newest first; `onCall(username, name)` calls back. */
export function renderHistory(calls, meetings, me, onCall) {
  const list = $("history-list");
  list.replaceChildren();
  const entries = mergeHistory(calls, meetings);
  $("history-empty").hidden = entries.length > 0;
  for (const { kind, item } of entries) {
    list.append(kind === "call" ? callRow(item, me, onCall) : meetingRow(item, me));
  }
}

/** Show `presence` on a row's presence label (text as well as colour). */
export function setPresence(node, presence) {
  node.className = `presence presence-${presence}`;
  node.textContent = PRESENCE_LABELS[presence] ?? presence;
}

/** The people I called or who called me, latest first, each one click from a call. */
export function renderContacts(contacts, onCall) {
  const list = $("contacts-list");
  list.replaceChildren();
  $("contacts-empty").hidden = contacts.length > 0;
  for (const contact of contacts) {
    const name = contact.display_name || contact.username;
    const item = el("li", {
      className: "list-item contact-item",
      attrs: { "data-testid": "contact", "data-username": contact.username },
    });
    const who = el("div", { className: "who" });
    who.append(
      el("span", { className: "name", text: name }),
      el("span", { className: "username muted", text: `@${contact.username}` }),
    );
    const presence = el("span", { attrs: { "data-testid": "contact-presence" } });
    setPresence(presence, contact.presence);
    const button = el("button", {
      className: "btn btn-accept",
      text: "Call",
      attrs: { type: "button", "data-testid": "contact-call", "aria-label": `Call ${name}` },
    });
    button.addEventListener("click", () => onCall(contact.username, name));
    item.append(who, presence, button);
    list.append(item);
  }
}
