// The signaling WebSocket (PROTOCOL.md): hello/welcome, events, keepalive, reconnect.
//
// Every server message is dispatched as an Event named after its `type` (detail = message).
// "status" events report the connection: connecting, open, reconnecting (with retryIn ms),
// closed. "auth-lost" means the token is no longer valid (4002/4003): log in again.

const PING_EVERY_MS = 25000;
const PONG_WITHIN_MS = 10000;
const WELCOME_WITHIN_MS = 10000;
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 10000;
const QUEUE_LIMIT = 200;
// Close codes after which reconnecting with the same token is pointless. Every other close
// (1001 shutdown, 1011 "database unavailable, retry shortly", network loss) is retried with
// jittered exponential backoff, 0.5 s doubling to 10 s, reset only by a `welcome`; 1013
// ("server busy, retry after 2.5 s") waits the server's hint instead, already jittered by
// the server so that a storm of clients comes back spread out.
const FATAL_CLOSE_CODES = new Set([4002, 4003]);
const TRY_AGAIN_LATER = 1013;
const HINT_MAX_MS = 60000;

/** The server's retry hint of a 1013 close in ms, or null (PROTOCOL.md, "Closing"). */
export function retryHintMs(code, reason) {
  if (code !== TRY_AGAIN_LATER) return null;
  const found = /retry after (\d+(?:\.\d+)?) s/.exec(reason || "");
  return found ? Math.min(HINT_MAX_MS, Math.round(parseFloat(found[1]) * 1000)) : null;
}

export class Signaling extends EventTarget {
  /** `url`: absolute ws(s) URL; `getToken()`: the current session token. */
  constructor(url, getToken) {
    super();
    this.url = url;
    this.getToken = getToken;
    this.ws = null;
    this.ready = false; // welcomed on the current socket
    this.welcome = null;
    this.attempt = 0;
    this.stopped = true;
    this.retryTimer = null;
    this.pingTimer = null;
    this.pongTimer = null;
    this.welcomeTimer = null;
    this.nextId = 1;
    this.pending = new Map(); // id -> {resolve, reject, timer}
    this.queue = []; // messages to send once welcomed again
  }

  start() {
    this.stopped = false;
    this.connect();
    window.addEventListener("online", this.onOnline);
  }

  stop() {
    this.stopped = true;
    window.removeEventListener("online", this.onOnline);
    clearTimeout(this.retryTimer);
    this.teardown(1000, "logout");
    this.queue = [];
    this.emitStatus("closed");
  }

  /** Reconnect at once (the banner's "Retry now", the browser coming back online). */
  retryNow() {
    if (this.stopped || (this.ws && this.ws.readyState <= WebSocket.OPEN)) return;
    clearTimeout(this.retryTimer);
    this.connect();
  }

  onOnline = () => this.retryNow();

  connect() {
    const token = this.getToken();
    if (!token) return;
    this.emitStatus(this.attempt ? "reconnecting" : "connecting");
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (err) {
      this.scheduleReconnect(null);
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      // The token goes in the first message, never in the URL.
      ws.send(JSON.stringify({ type: "hello", token, id: "hello" }));
      this.welcomeTimer = setTimeout(() => ws.close(4000, "no welcome"), WELCOME_WITHIN_MS);
    };
    ws.onmessage = (event) => this.onMessage(ws, event);
    ws.onclose = (event) => this.onClose(ws, event);
    ws.onerror = () => {}; // a close event always follows
  }

  onMessage(ws, event) {
    if (ws !== this.ws) return;
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    if (!message || typeof message.type !== "string") return;
    this.armPing();
    if (message.type === "welcome") {
      clearTimeout(this.welcomeTimer);
      this.ready = true;
      this.welcome = message;
      const reconnected = this.attempt > 0;
      this.attempt = 0;
      this.emitStatus("open");
      this.dispatchEvent(new CustomEvent("welcome", { detail: { ...message, reconnected } }));
      this.flushQueue();
      return;
    }
    if (message.ref !== undefined && this.pending.has(message.ref)) {
      const entry = this.pending.get(message.ref);
      this.pending.delete(message.ref);
      clearTimeout(entry.timer);
      entry.resolve(message);
      if (message.type === "pong" || message.type === "ack") return;
    }
    this.dispatchEvent(new CustomEvent(message.type, { detail: message }));
  }

  onClose(ws, event) {
    if (ws !== this.ws) return;
    this.teardown();
    if (this.stopped) return;
    if (FATAL_CLOSE_CODES.has(event.code)) {
      this.stopped = true;
      this.emitStatus("closed", { code: event.code });
      this.dispatchEvent(new CustomEvent("auth-lost", { detail: { code: event.code } }));
      return;
    }
    this.scheduleReconnect(event.code, retryHintMs(event.code, event.reason));
  }

  scheduleReconnect(code, hintMs = null) {
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** this.attempt);
    const delay = hintMs ?? Math.round(base / 2 + (Math.random() * base) / 2); // jitter
    this.attempt += 1;
    this.emitStatus("reconnecting", { retryIn: delay, code });
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  teardown(code, reason) {
    clearTimeout(this.welcomeTimer);
    clearTimeout(this.pingTimer);
    clearTimeout(this.pongTimer);
    this.ready = false;
    for (const entry of this.pending.values()) {
      clearTimeout(entry.timer);
      entry.reject(new Error("signaling connection closed"));
    }
    this.pending.clear();
    const ws = this.ws;
    this.ws = null;
    if (ws && ws.readyState <= WebSocket.OPEN) {
      ws.onclose = null;
      ws.close(code ?? 1000, reason ?? "");
    }
  }

  /** After any traffic, wait a while, then prove the server is still there with `ping`. */
  armPing() {
    clearTimeout(this.pingTimer);
    clearTimeout(this.pongTimer);
    this.pingTimer = setTimeout(() => {
      const ws = this.ws;
      if (!ws || !this.ready) return;
      this.request({ type: "ping" }, PONG_WITHIN_MS).catch(() => {
        if (ws === this.ws) ws.close(4000, "no pong"); // dead path: reconnect
      });
    }, PING_EVERY_MS);
  }

  /**
   * Send a message now if welcomed; otherwise queue it (when `queue`) for the next welcome.
   * Returns true if it was sent at once.
   */
  send(message, { queue = true } = {}) {
    if (this.ready && this.ws?.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(message));
      return true;
    }
    if (queue && !this.stopped) {
      this.queue.push(message);
      if (this.queue.length > QUEUE_LIMIT) this.queue.shift();
    }
    return false;
  }

  /** Send with a fresh `id`; resolves with the reply carrying it as `ref` (ack, error, pong). */
  request(message, timeoutMs = 10000) {
    const id = `c${this.nextId++}`;
    return new Promise((resolve, reject) => {
      if (!this.send({ ...message, id }, { queue: false })) {
        reject(new Error("signaling not connected"));
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`no reply to ${message.type}`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
    });
  }

  flushQueue() {
    const queued = this.queue;
    this.queue = [];
    for (const message of queued) this.send(message);
  }

  /** Drop queued messages about a call that is over. */
  forgetCall(callId) {
    this.queue = this.queue.filter((m) => m.call_id !== callId);
  }

  emitStatus(state, extra = {}) {
    this.dispatchEvent(new CustomEvent("status", { detail: { state, ...extra } }));
  }
}
