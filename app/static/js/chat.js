// The "Chat" panel of a call or a meeting: text lines over the signaling daemon (PROTOCOL.md,
// "In-call messages"). Every line is put on the page with textContent, never as HTML: a
// link or a tag someone types is shown as the text it is. Nothing is kept after the call.

import { setButton } from "./icons.js";

const MAX_LENGTH = 1000; // the server's limit (signaling.protocol.MAX_CHAT_LENGTH)

function make(tag, props = {}) {
  const node = document.createElement(tag);
  Object.assign(node, props);
  return node;
}

function clock(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

export class ChatPanel {
  /**
   * `prefix` names the elements ("call" -> #call-chat-button, #call-chat-panel); the button
   * goes at the start of `toolbar`, the panel into `container`. `me`: my username.
   */
  constructor({ signaling, prefix, toolbar, container }) {
    this.signaling = signaling;
    this.scope = null; // {call_id} or {meeting_id} while in a call or meeting
    this.unread = 0;
    this.build(prefix, toolbar, container);
    this.onChat = (event) => this.received(event.detail);
    signaling.addEventListener("chat", this.onChat);
  }

  build(prefix, toolbar, container) {
    const panelId = `${prefix}-chat-panel`;
    this.button = make("button", { type: "button", className: "btn btn-round chat-button", id: `${prefix}-chat-button` });
    this.button.dataset.testid = "chat-button";
    this.button.setAttribute("aria-expanded", "false");
    this.button.setAttribute("aria-controls", panelId);
    this.badge = make("span", { className: "badge chat-unread", hidden: true });
    this.badge.dataset.testid = "chat-unread";
    Object.assign(this.button.dataset, { icon: "chat", key: "c" });
    this.button.setAttribute("aria-keyshortcuts", "C");
    this.button.textContent = "Chat";
    setButton(this.button, "Chat");
    this.button.append(this.badge);
    this.button.addEventListener("click", () => this.toggle());
    toolbar.prepend(this.button);

    this.panel = make("section", { className: "card chat-panel", id: panelId, hidden: true });
    this.panel.dataset.testid = "chat-panel";
    this.panel.setAttribute("aria-label", "Chat");
    this.log = make("ol", { className: "chat-log" });
    this.log.dataset.testid = "chat-log";
    this.log.setAttribute("aria-live", "polite");
    const form = make("form", { className: "chat-form" });
    this.input = make("textarea", { rows: 2, placeholder: "Message everyone" });
    this.input.dataset.testid = "chat-input";
    this.input.setAttribute("aria-label", "Message");
    this.error = make("p", { className: "error", hidden: true });
    this.error.dataset.testid = "chat-error";
    this.error.setAttribute("role", "alert");
    const send = make("button", { type: "submit", className: "btn btn-primary", textContent: "Send" });
    send.dataset.testid = "chat-send";
    form.append(this.input, send, this.error);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send();
    });
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        this.send();
      }
    });
    this.panel.append(this.log, form);
    container.append(this.panel);
  }

  /** Start a call's or meeting's chat (`scope` is {call_id} or {meeting_id}), empty. */
  attach(scope) {
    this.scope = scope;
    this.log.replaceChildren();
    this.setUnread(0);
    this.showError("");
  }

  /** The call or meeting is over: forget every line. */
  detach() {
    this.scope = null;
    this.log.replaceChildren();
    this.setUnread(0);
    this.panel.hidden = true;
    this.button.setAttribute("aria-expanded", "false");
  }

  toggle() {
    this.panel.hidden = !this.panel.hidden;
    this.button.setAttribute("aria-expanded", String(!this.panel.hidden));
    if (!this.panel.hidden) {
      this.setUnread(0);
      this.input.focus();
    }
  }

  setUnread(count) {
    this.unread = count;
    this.badge.hidden = count === 0;
    this.badge.textContent = String(count);
    this.button.setAttribute("aria-label", count ? `Chat, ${count} unread` : "Chat");
  }

  showError(text) {
    this.error.textContent = text;
    this.error.hidden = !text;
  }

  matches(message) {
    const scope = this.scope;
    if (!scope) return false;
    return "meeting_id" in scope ? message.meeting_id === scope.meeting_id : message.call_id === scope.call_id;
  }

  received(message) {
    if (!this.matches(message)) return;
    this.append(message.name || message.from, message.from, message.text, message.at);
    if (this.panel.hidden) this.setUnread(this.unread + 1);
  }

  async send() {
    const text = this.input.value;
    if (!this.scope || !text.trim()) return;
    if (text.length > MAX_LENGTH) {
      this.showError(`A message can be at most ${MAX_LENGTH} characters (this one has ${text.length}).`);
      return;
    }
    this.showError("");
    let reply;
    try {
      reply = await this.signaling.request({ type: "chat", ...this.scope, text });
    } catch {
      this.showError("Not sent: the connection is down. Try again in a moment.");
      return;
    }
    if (reply.type === "error") {
      this.showError(reply.code === "text_too_long" ? `A message can be at most ${MAX_LENGTH} characters.` : reply.message);
      return;
    }
    this.input.value = "";
    this.append("You", null, text, reply.at ?? Date.now());
  }

  /** One line: who, when, what, each as plain text. */
  append(name, username, text, at) {
    const item = make("li", { className: "chat-line" });
    item.dataset.testid = "chat-message";
    const who = make("span", { className: "chat-from", textContent: name });
    who.dataset.testid = "chat-sender";
    if (username) who.title = `@${username}`;
    const when = make("time", { className: "chat-time", textContent: clock(at) });
    when.dateTime = new Date(at).toISOString();
    const body = make("p", { className: "chat-text", textContent: text });
    body.dataset.testid = "chat-text";
    item.append(who, " ", when, body);
    this.log.append(item);
    this.log.scrollTop = this.log.scrollHeight;
  }

  destroy() {
    this.signaling.removeEventListener("chat", this.onChat);
    this.button.remove();
    this.panel.remove();
  }
}
