// What a meeting's people say without speaking: the "Chat" panel, the "Raise hand" button,
// the reactions, and each tile's "Muted" / "Camera off" badges, initials avatar and raised
// hand. It renders a Meeting's "media-state", "hand" and "reaction" events onto the tiles
// that MeetingView owns; the messages themselves are the Meeting's (meeting.js).

import { ChatPanel } from "./chat.js";
import { setButton } from "./icons.js";
import { REACTIONS, REACTION_MS, describeHand, describeReaction } from "./reactions.js";
import { TileState } from "./tilestate.js";
import { $, announce, el } from "./ui.js";

export class MeetingSocial {
  /** `view`: the MeetingView (its tiles, by username); `signal` ends every listener. */
  constructor(view, signal) {
    this.view = view;
    this.meeting = view.meeting;
    this.states = new Map(); // username -> TileState on their tile
    const screen = $("screen-meeting");
    this.chat = new ChatPanel({
      signaling: this.meeting.signaling,
      prefix: "meeting",
      toolbar: screen.querySelector(".controls"),
      container: screen.querySelector(".meeting-side"),
    });
    this.bind(signal);
    this.renderHandButton();
  }

  bind(signal) {
    const m = this.meeting;
    $("meeting-hand").addEventListener("click", () => m.toggleHand(), { signal });
    $("meeting-react").addEventListener("click", () => this.toggleReactions(), { signal });
    const menu = $("meeting-reactions");
    if (!menu.childElementCount) {
      for (const { emoji, name } of REACTIONS) {
        menu.append(
          el("button", {
            className: "btn btn-small reaction-choice",
            text: emoji,
            attrs: { type: "button", "data-emoji": emoji, "aria-label": name, title: name, "data-testid": "reaction-choice" },
          }),
        );
      }
    }
    menu.addEventListener(
      "click",
      (event) => {
        const emoji = event.target.closest("button[data-emoji]")?.dataset.emoji;
        if (!emoji) return;
        m.react(emoji);
        this.toggleReactions(false);
      },
      { signal },
    );
    const listen = (type, handler) => m.addEventListener(type, (e) => handler(e.detail), { signal });
    listen("state", (state) => {
      if (state === "in" && !this.chat.scope) this.chat.attach({ meeting_id: m.id });
    });
    listen("media-state", ({ user, state }) => this.states.get(user)?.show(state, this.nameOf(user)));
    listen("hand", (detail) => this.onHand(detail));
    listen("reaction", ({ user, emoji }) => this.showReaction(user, emoji));
  }

  nameOf(user) {
    const label = this.view.tileOf(user)?.label.textContent ?? user;
    return label.replace(/ \(you\)$/, "");
  }

  /** A tile was made for `user` (`entry`: {tile, ...}): lay the badges over it. */
  addTile(user, entry) {
    const state = new TileState(entry.tile);
    this.states.set(user, state);
    const known = this.meeting.mediaStates.get(user);
    if (known) state.show(known, this.nameOf(user));
    state.showHand(this.meeting.hands.has(user));
  }

  removeTile(user) {
    this.states.get(user)?.remove();
    this.states.delete(user);
  }

  onHand({ user, raised, by }) {
    const m = this.meeting;
    this.states.get(user)?.showHand(raised);
    if (user === m.me) this.renderHandButton();
    const byHost = !raised && by !== user;
    announce(describeHand(this.nameOf(user), raised, byHost, user === m.me));
    this.view.renderRoster();
  }

  renderHandButton() {
    const raised = this.meeting.hands.has(this.meeting.me);
    const button = $("meeting-hand");
    button.setAttribute("aria-pressed", String(raised));
    setButton(button, raised ? "Lower hand" : "Raise hand");
  }

  toggleReactions(open = null) {
    const menu = $("meeting-reactions");
    const show = open ?? menu.hidden;
    menu.hidden = !show;
    $("meeting-react").setAttribute("aria-expanded", String(show));
    if (show) menu.querySelector("button")?.focus();
  }

  /** `emoji` floats over `user`'s tile for a moment, and is announced. */
  showReaction(user, emoji) {
    const tile = this.view.tileOf(user)?.tile;
    const text = describeReaction(this.nameOf(user), emoji);
    if (!tile || !text) return;
    const bubble = el("span", {
      className: "tile-reaction",
      text: emoji,
      attrs: { "data-testid": "tile-reaction", "data-emoji": emoji, role: "img", "aria-label": text },
    });
    tile.append(bubble);
    setTimeout(() => bubble.remove(), REACTION_MS);
    announce(text);
  }

  /** The participant list's row for `user`: a raised hand, and the host's "Lower hand". */
  decorateRow(user, who, actions) {
    const m = this.meeting;
    if (!m.hands.has(user)) return;
    who.prepend(el("span", { className: "hand-mark", text: "✋ Hand raised", attrs: { "data-testid": "participant-hand" } }));
    if (m.isHost && user !== m.me && actions) {
      actions.prepend(
        el("button", {
          className: "btn btn-small",
          text: "Lower hand",
          attrs: { type: "button", "data-action": "lower", "data-testid": "lower-hand", "aria-label": `Lower hand: ${user}` },
        }),
      );
    }
  }

  close() {
    this.chat.destroy();
    for (const user of [...this.states.keys()]) this.removeTile(user);
    this.toggleReactions(false);
  }
}
