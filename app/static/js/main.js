// Entry point: sign in, find people, call history, meetings, and wiring of signaling and
// the phone.

import { ApiError, api, session } from "./api.js";
import { getLocalMedia } from "./call.js";
import { devicePanel } from "./devicepanel.js";
import { decorateButtons } from "./icons.js";
import { Meeting } from "./meeting.js";
import { MeetingView } from "./meetingview.js";
import { Phone } from "./phone.js";
import { installShortcuts } from "./shortcuts.js";
import { Signaling } from "./signaling.js";
import { $, banner, clearNotice, currentScreen, notice, renderUsers, setText, showMessage, showScreen } from "./ui.js";
import { renderContacts, renderHistory, setPresence } from "./history.js";

const state = { me: null, signaling: null, phone: null, config: null, searchResults: [] };
// The meeting on screen (meeting.js), and a meeting link opened before logging in.
state.meeting = null;
state.meetingLink = null;
// Which meeting this tab is in (its id only), so a reloaded page can rejoin it.
const MEETING_KEY = "chimecast.meeting";

// For tests and debugging: the live peer connection and call, never the token.
window.__chimecast = {
  get pc() {
    return state.phone?.session?.pc ?? null;
  },
  get call() {
    const call = state.phone?.call;
    if (!call) return null;
    const { id, peer, role, session: media } = call;
    const offers = media?.offersSent ?? 0;
    return { id, peer, role, state: call.state, offers, restarts: media?.iceRestarts ?? 0 };
  },
  get ringtone() {
    return state.phone?.ringtone.state ?? null;
  },
  get signaling() {
    const s = state.signaling;
    return s ? { ready: s.ready, attempt: s.attempt, url: s.url } : null;
  },
  /** The meeting: id, state, host, participants, waiting, peers {username: pc}, publisher
   * (an SFU meeting's upload pc); no token. */
  get meeting() {
    return state.meeting?.snapshot() ?? null;
  },
  /** Close the socket as a network drop would (tests of the reconnect path). */
  dropSignaling() {
    state.signaling?.ws?.close(4000, "test drop");
  },
};

async function boot() {
  state.meetingLink = readMeetingLink(); // first: the fragment leaves the address bar at once
  window.addEventListener("hashchange", onHashChange);
  bindForms();
  decorateButtons();
  installShortcuts(document, currentScreen);
  try {
    state.config = await api.clientConfig();
  } catch (err) {
    notice(err.message, { kind: "error", ms: 0 });
  }
  if (session.token) {
    try {
      const me = await api.me();
      return signedIn(me);
    } catch (err) {
      session.token = null;
      if (!(err instanceof ApiError && err.status === 401)) notice(err.message, { kind: "error" });
    }
  }
  if (state.meetingLink) notice("Log in to join the meeting.");
  showScreen("auth", "login-username");
}

function bindForms() {
  $("login-form").addEventListener("submit", onLogin);
  $("register-form").addEventListener("submit", onRegister);
  $("search-form").addEventListener("submit", onSearch);
  $("meeting-form").addEventListener("submit", onNewMeeting);
  $("history-refresh").addEventListener("click", () => refreshHistory());
  setInterval(refreshWhileHome, HOME_REFRESH_MS);
  $("logout-button").addEventListener("click", onLogout);
  $("settings-button").addEventListener("click", openSettings);
  $("settings-done").addEventListener("click", closeSettings);
  $("reconnect-now").addEventListener("click", () => state.signaling?.retryNow());
}

async function onLogin(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const username = $("login-username").value.trim();
  const password = $("login-password").value;
  showMessage("login-error", "");
  if (!username || !password) {
    showMessage("login-error", "Enter your username and password.");
    return;
  }
  await busy(form, async () => {
    try {
      const answer = await api.login(username, password);
      session.token = answer.token;
      $("login-password").value = "";
      signedIn(answer.user);
    } catch (err) {
      showMessage("login-error", err.message);
    }
  });
}

async function onRegister(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const username = $("register-username").value.trim();
  const password = $("register-password").value;
  const displayName = $("register-display-name").value.trim();
  showMessage("register-error", "");
  showMessage("register-ok", "");
  await busy(form, async () => {
    try {
      const user = await api.register(username, password, displayName);
      $("login-username").value = user.username;
      showMessage("register-ok", `Account “${user.username}” created. Logging you in…`);
      // Registering is the first login: nobody should type the new password twice.
      const answer = await api.login(user.username, password);
      $("register-password").value = "";
      session.token = answer.token;
      showMessage("register-ok", "");
      signedIn(answer.user);
    } catch (err) {
      showMessage("register-ok", "");
      showMessage("register-error", err.message);
    }
  });
}

/** Disable a form's controls while `work` runs. */
async function busy(form, work) {
  const controls = [...form.elements];
  controls.forEach((c) => (c.disabled = true));
  form.setAttribute("aria-busy", "true");
  try {
    await work();
  } finally {
    controls.forEach((c) => (c.disabled = false));
    form.removeAttribute("aria-busy");
  }
}

function signalingUrl() {
  if (state.config?.signaling_url) return state.config.signaling_url;
  const url = new URL("/ws", window.location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

function signedIn(user) {
  state.me = user;
  setText("me-name", user.display_name ? `${user.display_name} (@${user.username})` : user.username);
  $("me-box").hidden = false;
  const signaling = new Signaling(signalingUrl(), () => session.token);
  state.signaling = signaling;
  state.phone = new Phone({
    signaling,
    me: user.username,
    onIdle: goHome,
    isBusy: () => Boolean(state.meeting),
  });
  // After a login click the page has a user gesture, so the ringtone's AudioContext can
  // start now; a reloaded page gets one at its first click or key press.
  state.phone.ringtone.unlock();
  signaling.addEventListener("status", onSignalingStatus);
  signaling.addEventListener("auth-lost", () => signedOut("Your session has ended. Please log in again."));
  signaling.addEventListener("session_revoked", () => signedOut("You were logged out."));
  signaling.addEventListener("presence", onPresence);
  signaling.addEventListener("contact_presence", onContactPresence);
  signaling.start();
  // Any click can start audio later (a reloaded page has had no gesture yet).
  document.addEventListener("pointerdown", () => state.phone?.ringtone.unlock(), { once: true });
  document.addEventListener("keydown", () => state.phone?.ringtone.unlock(), { once: true });
  goHome();
  const link = state.meetingLink;
  state.meetingLink = null;
  const resume = Number(sessionStorage.getItem(MEETING_KEY));
  if (link) openMeeting(link);
  else if (resume > 0) openMeeting({ id: resume, invite: null });
}

// --- Settings: the device panel with a preview of its own ------------------------------

function openSettings() {
  if (state.phone?.call || state.meeting) {
    notice("Use “Devices” in the call or meeting to change devices now.");
    return;
  }
  if (state.settingsMedia) return;
  state.settingsMedia = getLocalMedia();
  showScreen("settings", "camera-select");
  devicePanel.show("settings-devices", state.settingsMedia);
}

function closeSettings() {
  const media = state.settingsMedia;
  state.settingsMedia = null;
  devicePanel.hide();
  media?.then((local) => local.stop());
  if (state.me) {
    showScreen("home", "search-input");
    refreshHistory();
  }
}

function goHome() {
  if (!state.me) return;
  if (currentScreen() === "settings") return; // still choosing devices
  // A call or meeting took the screen from the settings: their preview is no longer needed.
  state.settingsMedia?.then((local) => local.stop());
  state.settingsMedia = null;
  const busy = state.phone?.call || state.meeting;
  if (!busy && currentScreen() !== "home") showScreen("home", "search-input");
  refreshHistory();
}

// --- Meetings ---------------------------------------------------------------------------

/**
 * A meeting link `#meeting=<id>&invite=<token>`: read it once and take it out of the
 * address bar (and so out of history and bookmarks). The token only ever leaves this page
 * inside join_meeting.
 */
function readMeetingLink() {
  const params = new URLSearchParams(window.location.hash.slice(1));
  if (!params.has("meeting")) return null; // e.g. the skip link's #main
  history.replaceState(history.state, "", window.location.pathname + window.location.search);
  const id = Number(params.get("meeting"));
  const invite = params.get("invite") ?? "";
  if (!Number.isSafeInteger(id) || id <= 0 || !/^[\w-]{1,256}$/.test(invite)) {
    notice("This meeting link is not valid.", { kind: "error" });
    return null;
  }
  return { id, invite };
}

/** A meeting link pasted into the address bar of an open page. */
function onHashChange() {
  const link = readMeetingLink();
  if (!link) return;
  if (state.me) openMeeting(link);
  else {
    state.meetingLink = link;
    notice("Log in to join the meeting.");
  }
}

async function onNewMeeting(event) {
  event.preventDefault();
  const form = event.currentTarget;
  showMessage("meeting-error", "");
  const size = Number.parseInt($("meeting-size").value, 10);
  const options = {
    name: $("meeting-name").value.trim(),
    waitingRoom: $("meeting-waiting-room").checked,
    size: Number.isNaN(size) ? null : size,
  };
  if (state.phone?.call || state.meeting) {
    showMessage("meeting-error", "Finish the current call first.");
    return;
  }
  await busy(form, async () => {
    try {
      const { meeting, invite } = await api.createMeeting(options);
      form.reset();
      openMeeting({ id: meeting.id, invite, creator: true, info: meeting });
    } catch (err) {
      showMessage("meeting-error", err.message);
    }
  });
}

/** Join (or rejoin) a meeting and show it until it is over. */
function openMeeting({ id, invite, creator = false, info = null }) {
  if (state.meeting) {
    const same = state.meeting.id === id;
    notice(same ? "You are in this meeting already." : "Leave the current meeting first.");
    return;
  }
  if (state.phone?.call) {
    notice("Finish the current call first, then open the meeting link again.", { kind: "error" });
    return;
  }
  clearNotice(); // e.g. "Log in to join the meeting."
  const me = state.me.username;
  const meeting = new Meeting({ id, invite, signaling: state.signaling, me, creator, info });
  state.meeting = meeting;
  new MeetingView(meeting, {
    onOver: ({ text, kind }) => {
      if (state.meeting !== meeting) return;
      state.meeting = null;
      sessionStorage.removeItem(MEETING_KEY);
      if (text) notice(text, { kind, ms: 10000 });
      goHome();
    },
  });
  meeting.addEventListener("state", () => {
    if (meeting.state === "in") sessionStorage.setItem(MEETING_KEY, String(meeting.id));
  });
  meeting.start();
}

let historyRequest = 0;

/** History (calls and meetings) and recent contacts with their presence, all at once. */
async function refreshHistory() {
  const ticket = ++historyRequest;
  try {
    const [calls, meetings, contacts] = await Promise.all([api.history(), api.meetings(), api.contacts()]);
    if (ticket === historyRequest && state.me) {
      const dial = (username, name) => state.phone.dial(username, name);
      renderHistory(calls.items, meetings.items, state.me.username, dial);
      renderContacts(contacts.items, dial);
    }
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) signedOut("Your session has ended. Please log in again.");
  }
}

async function onSearch(event) {
  event.preventDefault();
  const q = $("search-input").value.trim();
  showMessage("search-error", "");
  try {
    const { items } = await api.searchUsers(q);
    state.searchResults = items;
    renderUsers(items, state.me.username, (username) => {
      const user = items.find((u) => u.username === username);
      state.phone.dial(username, user?.display_name);
    });
  } catch (err) {
    showMessage("search-error", err.message);
  }
}

function onPresence(event) {
  const { user, presence } = event.detail;
  const who = CSS.escape(user);
  for (const item of document.querySelectorAll(
    `#search-results [data-username="${who}"] .presence, #contacts-list [data-username="${who}"] .presence`,
  )) {
    setPresence(item, presence);
  }
}

/**
 * A recent contact came online or left: shown at once, then checked over HTTP (with
 * several daemons the push is each daemon's view; GET /me/contacts is the truth).
 */
function onContactPresence(event) {
  onPresence(event);
  clearTimeout(contactCheck);
  contactCheck = setTimeout(refreshWhileHome, 1000);
}

let contactCheck = null;

// Pushes do not say when a contact starts or ends a call (busy), so the home page also
// asks again while it is shown: contacts' presence is at most this old.
const HOME_REFRESH_MS = 20_000;

function refreshWhileHome() {
  if (state.me && currentScreen() === "home" && document.visibilityState === "visible") refreshHistory();
}

function onSignalingStatus(event) {
  const { state: status, retryIn, code } = event.detail;
  if (status === "open" || status === "closed" || status === "connecting") {
    banner(null);
    return;
  }
  if (status === "reconnecting") {
    const seconds = retryIn ? ` in ${Math.max(1, Math.round(retryIn / 1000))} s` : "";
    // 1011 at hello: the server could not check the login (its database is down); 1013: it
    // is busy (a reconnect storm) and said when to come back.
    const why =
      code === 1011
        ? "The call server is having trouble"
        : code === 1013
          ? "The call server is busy"
          : "Connection to the call server lost";
    banner(`${why}. Reconnecting${seconds}…`);
  }
}

async function onLogout() {
  try {
    await api.logout();
  } catch {
    // the token is dropped locally either way
  }
  signedOut("You are logged out.");
}

function signedOut(message) {
  if (state.settingsMedia) closeSettings();
  const meeting = state.meeting;
  state.meeting = null;
  meeting?.leave(); // its "over" is not shown: the logout message is
  sessionStorage.removeItem(MEETING_KEY);
  state.phone?.destroy();
  state.signaling?.stop();
  state.phone = state.signaling = state.me = null;
  session.token = null;
  $("me-box").hidden = true;
  $("search-results").replaceChildren();
  $("history-list").replaceChildren();
  $("contacts-list").replaceChildren();
  banner(null);
  clearNotice();
  if (message) notice(message);
  showScreen("auth", "login-username");
}

boot();
