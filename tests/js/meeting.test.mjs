// The meeting roster and call descriptions, driven by server events with a fake signaling
// object (app/static/js/meeting.js, ui.js). No browser: peer connections are never made.
import assert from "node:assert/strict";
import { test } from "node:test";

import { Meeting } from "../../app/static/js/meeting.js";
import { describeCall, describeMeeting, mergeHistory } from "../../app/static/js/history.js";

function meetingIn() {
  const signaling = new EventTarget();
  signaling.ready = false;
  const meeting = new Meeting({ id: 7, signaling, me: "ann", info: { host: "host" } });
  meeting.media = new Promise(() => {}); // camera never answers: no peers are built
  meeting.iceServers = Promise.resolve([]);
  return meeting;
}

test("joining lists me first, then the others; leaving and dropping update the roster", () => {
  const m = meetingIn();
  const rosters = [];
  m.addEventListener("roster", () => rosters.push([...m.participants]));
  m.onJoined({ meeting: { host: "host", locked: false }, participants: ["host", "ann", "ben"] });
  assert.equal(m.state, "in");
  assert.deepEqual(m.participants, ["ann", "host", "ben"]);
  assert.equal(m.isHost, false);
  m.onParticipantJoined({ user: "cat" });
  m.onParticipantDisconnected({ user: "ben" });
  assert.ok(m.away.has("ben"));
  m.onParticipantLeft({ user: "ben" });
  assert.deepEqual(m.participants, ["ann", "host", "cat"]);
  assert.ok(!m.away.has("ben"));
  assert.deepEqual(rosters.at(-1), ["ann", "host", "cat"]);
});

test("host changes and the end of the meeting are told once", () => {
  const m = meetingIn();
  m.onJoined({ meeting: { host: "host" }, participants: ["host", "ann"] });
  m.onHostChanged({ host: "ann" });
  assert.equal(m.isHost, true);
  const over = [];
  m.addEventListener("over", (e) => over.push(e.detail));
  m.onEnded({ meeting: { end_reason: "ended_by_host" } });
  m.onEnded({ meeting: { end_reason: "ended_by_host" } });
  assert.deepEqual(over, [{ text: "You ended the meeting for everyone.", kind: "info" }]);
});

test("history labels: my unanswered call is not a missed one", () => {
  const mine = { caller: "ann", callee: "bob", state: "ended", end_reason: "missed" };
  assert.deepEqual(describeCall(mine, "ann"), { label: "No answer", missed: false, outgoing: true });
  assert.equal(describeCall(mine, "bob").missed, true);
  const talked = { ...mine, end_reason: "hangup", answered_at: "x", duration_seconds: 65 };
  assert.equal(describeCall(talked, "bob").label, "Incoming call · 1:05");
});

test("history labels: a call to someone offline is no answer for me, missed for them", () => {
  const call = { caller: "ann", callee: "bob", state: "ended", end_reason: "offline" };
  assert.deepEqual(describeCall(call, "ann"), { label: "No answer (offline)", missed: false, outgoing: true });
  assert.deepEqual(describeCall(call, "bob"), {
    label: "Missed call (you were offline)",
    missed: true,
    outgoing: false,
  });
});

test("history: meetings are labelled with their host and length, merged newest first", () => {
  const meeting = {
    id: 3,
    name: "",
    state: "ended",
    host: "ann",
    host_name: "Ann Lee",
    created_at: "2026-12-04T10:00:00Z",
    ended_at: "2026-12-04T10:02:05Z",
  };
  assert.deepEqual(describeMeeting(meeting, "ann"), { name: "Untitled meeting", label: "Meeting you hosted · 2:05" });
  assert.equal(describeMeeting(meeting, "bob").label, "Meeting hosted by Ann Lee · 2:05");
  assert.equal(describeMeeting({ ...meeting, state: "open" }, "bob").label, "Meeting hosted by Ann Lee · in progress");
  const call = { id: 9, created_at: "2026-12-04T10:01:00Z" };
  const merged = mergeHistory([call], [meeting, { ...meeting, id: 4, created_at: "2026-12-04T11:00:00Z" }]);
  assert.deepEqual(
    merged.map((e) => [e.kind, e.item.id]),
    [
      ["meeting", 4],
      ["call", 9],
      ["meeting", 3],
    ],
  );
});

test("screen sharing: the host taking over stops mine; a sharer who leaves frees it", () => {
  const m = meetingIn();
  m.signaling.send = () => true;
  let stopped = 0;
  m.local = { screen: {}, stopSharing: () => (stopped += 1) };
  const sharers = [];
  m.addEventListener("sharer", (e) => sharers.push(e.detail));
  m.onJoined({ meeting: { host: "host", sharer: "ann" }, participants: ["host", "ann", "ben"] });
  assert.equal(m.sharer, "ann");
  m.onScreenShare({ user: "host", taken_from: "ann" });
  assert.equal(stopped, 1);
  assert.equal(m.sharer, "host");
  m.onScreenShare({ user: "ben", taken_from: null });
  assert.equal(stopped, 1, "someone else's share leaves mine alone");
  m.onParticipantLeft({ user: "ben" });
  assert.equal(m.sharer, null);
  assert.deepEqual(sharers.map((s) => [s.user, s.takenFrom]), [
    ["ann", null],
    ["host", "ann"],
    ["ben", null],
    [null, null],
  ]);
});

test("arrivals and departures are told once each, a return as a return", () => {
  const m = meetingIn();
  const told = [];
  m.addEventListener("arrived", (e) => told.push(["arrived", e.detail.user, e.detail.back]));
  m.addEventListener("departed", (e) => told.push(["departed", e.detail.user, e.detail.reason]));
  m.onJoined({ meeting: { host: "host" }, participants: ["host", "ann"] });
  m.onParticipantJoined({ user: "ben" });
  m.onParticipantJoined({ user: "ben" });
  m.onParticipantDisconnected({ user: "ben" });
  m.onParticipantJoined({ user: "ben" });
  m.onParticipantLeft({ user: "ben", reason: "removed" });
  m.onParticipantLeft({ user: "ben", reason: "removed" });
  assert.deepEqual(told, [
    ["arrived", "ben", false],
    ["departed", "ben", "disconnected"],
    ["arrived", "ben", true],
    ["departed", "ben", "removed"],
  ]);
});
