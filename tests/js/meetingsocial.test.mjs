// Hands, reactions and media state of a meeting (meeting.js, reactions.js), driven by
// server events with a fake signaling object that records what the page sends.
import assert from "node:assert/strict";
import { test } from "node:test";

import { Meeting } from "../../app/static/js/meeting.js";
import { REACTIONS, describeHand, describeReaction, reactionName } from "../../app/static/js/reactions.js";

function track(kind, enabled = true) {
  return { kind, enabled };
}

function meetingIn({ me = "ann", host = "host" } = {}) {
  const signaling = new EventTarget();
  signaling.ready = true;
  signaling.sent = [];
  signaling.send = (message) => signaling.sent.push(message) > 0;
  const meeting = new Meeting({ id: 7, signaling, me, info: { host } });
  meeting.media = new Promise(() => {}); // camera never answers: no peers are built
  meeting.iceServers = Promise.resolve([]);
  const tracks = [track("audio"), track("video")];
  meeting.stream = {
    getTracks: () => tracks,
    getAudioTracks: () => tracks.filter((t) => t.kind === "audio"),
    getVideoTracks: () => tracks.filter((t) => t.kind === "video"),
  };
  return meeting;
}

test("my media state goes out when I am let in, when I toggle, and when someone joins", () => {
  const m = meetingIn();
  const sent = m.signaling.sent;
  m.onJoined({ meeting: { host: "host" }, participants: ["host", "ann"] });
  assert.deepEqual(sent.at(-1), { type: "media_state", meeting_id: 7, audio: true, video: true });
  m.toggle("audio");
  assert.deepEqual(sent.at(-1), { type: "media_state", meeting_id: 7, audio: false, video: true });
  const before = sent.length;
  m.onParticipantJoined({ user: "ben" });
  assert.deepEqual(sent.slice(before), [{ type: "media_state", meeting_id: 7, audio: false, video: true }]);
});

test("a raised hand is repeated for a newcomer, and a lowered one is not", () => {
  const m = meetingIn();
  m.onJoined({ meeting: { host: "host" }, participants: ["host", "ann"] });
  m.toggleHand();
  assert.deepEqual(m.signaling.sent.at(-1), { type: "hand", meeting_id: 7, raised: true });
  m.onHand({ user: "ann", raised: true, by: "ann" });
  let before = m.signaling.sent.length;
  m.onParticipantJoined({ user: "ben" });
  assert.deepEqual(m.signaling.sent.slice(before).map((s) => s.type), ["media_state", "hand"]);
  m.onHand({ user: "ann", raised: false, by: "host" });
  before = m.signaling.sent.length;
  m.onParticipantJoined({ user: "cat" });
  assert.deepEqual(m.signaling.sent.slice(before).map((s) => s.type), ["media_state"]);
});

test("others' state, hands and reactions become events; my own echoes are not state", () => {
  const m = meetingIn({ me: "host" });
  m.onJoined({ meeting: { host: "host" }, participants: ["host", "ann"] });
  const seen = [];
  for (const type of ["media-state", "hand", "reaction"]) m.addEventListener(type, (e) => seen.push([type, e.detail]));
  m.onMediaState({ from: "ann", audio: false, video: true });
  m.onMediaState({ from: "host", audio: false, video: false }); // never about me
  m.onHand({ user: "ann", raised: true, by: "ann" });
  m.onReaction({ from: "ann", emoji: "🎉" });
  m.onReaction({ from: "host", emoji: "🎉" }); // mine were shown when sent
  assert.deepEqual(seen, [
    ["media-state", { user: "ann", state: { audio: false, video: true } }],
    ["hand", { user: "ann", raised: true, by: "ann" }],
    ["reaction", { user: "ann", emoji: "🎉" }],
  ]);
  assert.deepEqual(m.snapshot().hands, ["ann"]);
  m.lowerHand("ann");
  assert.deepEqual(m.signaling.sent.at(-1), { type: "hand", meeting_id: 7, raised: false, user: "ann" });
  m.onParticipantLeft({ user: "ann" });
  assert.deepEqual(m.snapshot().hands, []);
  assert.equal(m.mediaStates.has("ann"), false);
});

test("reactions are the server's six, with spoken names", () => {
  assert.deepEqual(REACTIONS.map((r) => r.emoji), ["👍", "👏", "😂", "❤️", "🎉", "😮"]);
  assert.equal(reactionName("❤️"), "Heart");
  assert.equal(reactionName("<b>"), null);
  assert.equal(describeReaction("Ann", "👏"), "Ann: Applause");
  assert.equal(describeReaction("Ann", "💩"), null);
  assert.equal(describeHand("Ben", true), "Ben raised a hand.");
  assert.equal(describeHand("Ben", false, true, true), "The host lowered your hand.");
  assert.equal(describeHand("Ben", false, true), "The host lowered Ben’s hand.");
});
