// The meeting screens: the waiting screen, and the meeting itself (video grid, participant
// list, the host's waiting-room panel and moderation buttons, mic/camera/lock/leave/end).
// No meeting logic here: it renders a Meeting (meeting.js) and calls its methods.
// Names go in through textContent only.

import { api } from "./api.js";
import { applySpeaker, devicePanel } from "./devicepanel.js";
import { setButton } from "./icons.js";
import { MeetingLayout } from "./meetinglayout.js";
import { MeetingSocial } from "./meetingsocial.js";
import { describeQuality } from "./stats.js";
import { $, announce, el, notice, setText, showScreen } from "./ui.js";

const displayNames = new Map(); // username -> Promise of a display name (or "")

function displayName(username) {
  if (!displayNames.has(username)) {
    displayNames.set(
      username,
      api.user(username).then(
        (user) => user.display_name || "",
        () => "",
      ),
    );
  }
  return displayNames.get(username);
}

/** "Display Name (@username)", or the username alone when there is no other name. */
function fullName(username, shown) {
  return shown && shown !== username ? `${shown} (@${username})` : username;
}

function button(text, action, testId, label) {
  return el("button", {
    className: "btn btn-small",
    text,
    attrs: { type: "button", "data-action": action, "data-testid": testId, "aria-label": label },
  });
}

/** A tile's "Sharing screen" badge (words, not only the larger size). */
function markSharing(entry, sharing) {
  entry.tile.classList.toggle("is-sharing", sharing);
  entry.tile.dataset.sharing = String(sharing);
  let badge = entry.tile.querySelector(".tile-sharing");
  if (sharing && !badge) {
    badge = el("span", { className: "tile-sharing", text: "Sharing screen", attrs: { "data-testid": "sharing-badge" } });
    entry.tile.append(badge);
  } else if (!sharing) badge?.remove();
}

export class MeetingView {
  /** Show `meeting` until it is over; `onOver({text, kind})` then takes the person home. */
  constructor(meeting, { onOver }) {
    this.meeting = meeting;
    this.onOver = onOver;
    this.tiles = new Map(); // username -> {tile, video, label, quality}
    this.codes = new Map(); // username -> the call code of my connection to them
    this.abort = new AbortController();
    this.bind();
    this.social = new MeetingSocial(this, this.abort.signal);
    this.localTile = this.makeTile(meeting.me, true);
    $("meeting-grid").replaceChildren(this.localTile.tile);
    this.social.addTile(meeting.me, this.localTile);
    this.layout = new MeetingLayout(this, this.abort.signal);
    $("waiting-preview").srcObject = null;
    this.renderTitle();
    this.renderInvite();
    this.renderHost();
    this.renderRoster();
    this.renderWaiting();
    this.renderLocked();
    this.renderToggles();
    $("meeting-mute-prompt").hidden = true;
  }

  bind() {
    const { signal } = this.abort;
    const m = this.meeting;
    const on = (id, handler) => $(id).addEventListener("click", handler, { signal });
    on("meeting-mic", () => m.toggle("audio"));
    on("meeting-camera", () => m.toggle("video"));
    on("meeting-share", () => m.toggleShare());
    on("meeting-devices-button", () => this.toggleDevices());
    on("meeting-lock", () => m.setLocked(!m.locked));
    on("meeting-leave", () => m.leave());
    on("waiting-leave", () => m.leave());
    on("meeting-end", () => m.endForEveryone());
    on("admit-all", () => m.admit());
    on("meeting-invite-copy", () => this.copyInvite());
    on("meeting-mute-me", () => {
      m.toggle("audio", false);
      $("meeting-mute-prompt").hidden = true;
    });
    on("meeting-mute-dismiss", () => ($("meeting-mute-prompt").hidden = true));
    // One handler per list: its buttons say what to do (data-action) and to whom.
    const act = (event) => {
      const target = event.target.closest("button[data-action]");
      const user = target?.closest("[data-username]")?.dataset.username;
      if (!target || !user) return;
      const actions = {
        admit: () => m.admit(user),
        deny: () => m.deny(user),
        remove: () => m.remove(user),
        mute: () => m.askToMute(user).then((r) => r.type === "ack" && notice(`Asked ${user} to mute.`)),
        host: () => m.makeHost(user),
        lower: () => m.lowerHand(user),
      };
      actions[target.dataset.action]?.();
    };
    $("waiting-list").addEventListener("click", act, { signal });
    $("participant-list").addEventListener("click", act, { signal });

    const listen = (type, handler) => m.addEventListener(type, (e) => handler(e.detail), { signal });
    listen("state", () => this.renderState());
    listen("roster", () => this.renderRoster());
    listen("waiting", () => this.renderWaiting());
    listen("host", () => this.renderHost());
    listen("locked", () => this.renderLocked());
    listen("local-stream", (detail) => this.onLocalStream(detail));
    listen("sharing", (sharing) => this.renderSharing(sharing));
    listen("sharer", (detail) => this.onSharer(detail));
    listen("arrived", ({ user, back }) => this.say(user, back ? "is back" : "joined the meeting"));
    const gone = { removed: "was removed", disconnected: "lost the connection" };
    listen("departed", ({ user, reason }) => this.say(user, gone[reason] ?? "left the meeting"));
    listen("peer", ({ user, peer }) => this.showPeer(user, peer));
    listen("peer-gone", ({ user }) => this.removeTile(user));
    listen("mute-request", ({ from }) => this.onMuteRequest(from));
    listen("error", ({ text }) => notice(text, { kind: "error" }));
    listen("over", (detail) => this.close(detail));
  }

  renderState() {
    const m = this.meeting;
    const before = this.shown;
    this.shown = m.state;
    this.renderTitle();
    if (m.state === "in") {
      devicePanel.hide();
      if (before !== "in") announce(`You are in ${m.info?.name || "the meeting"}.`);
      showScreen("meeting", "meeting-leave");
    } else if (m.state === "joining" || m.state === "waiting") {
      const waiting = m.state === "waiting";
      setText("waiting-kind", waiting ? "Waiting room" : "Meeting");
      setText(
        "waiting-status",
        waiting ? "The host will let you in soon. Please wait…" : "Joining…",
      );
      showScreen("waiting", "waiting-leave");
      devicePanel.show("waiting-devices", m.media);
    }
  }

  renderTitle() {
    const name = this.meeting.info?.name || "Meeting";
    setText("meeting-title", name);
    setText("waiting-title", name);
  }

  renderInvite() {
    const link = this.meeting.inviteLink();
    $("meeting-invite").hidden = !link || !this.meeting.isHost;
    $("meeting-invite-link").value = link ?? "";
  }

  async copyInvite() {
    const input = $("meeting-invite-link");
    let copied = false;
    try {
      await navigator.clipboard.writeText(input.value);
      copied = true;
    } catch {
      input.select(); // http:// on a LAN has no clipboard API: the old way
      copied = document.execCommand("copy");
    }
    setText("meeting-invite-copy", copied ? "Copied" : "Select and copy");
    setTimeout(() => setText("meeting-invite-copy", "Copy"), 2000);
  }

  renderHost() {
    const host = this.meeting.isHost;
    if (host && this.wasHost === false) notice("You are now the host.");
    this.wasHost = host;
    $("meeting-host-badge").hidden = !host;
    $("meeting-lock").hidden = !host;
    $("meeting-end").hidden = !host;
    $("waiting-panel").hidden = !host;
    this.renderInvite();
    this.renderRoster();
  }

  renderLocked() {
    const locked = this.meeting.locked;
    $("meeting-locked").hidden = !locked;
    const lock = $("meeting-lock");
    lock.setAttribute("aria-pressed", String(locked));
    setButton(lock, locked ? "Unlock" : "Lock", locked ? "unlock" : "lock");
  }

  /** The participant list, and one tile per remote participant who is here. */
  renderRoster() {
    const m = this.meeting;
    const list = $("participant-list");
    list.replaceChildren();
    for (const user of m.participants) {
      const item = el("li", {
        className: "list-item",
        attrs: { "data-testid": "participant", "data-username": user },
      });
      const who = el("div", { className: "who" });
      const name = el("span", { className: "name", text: user });
      const tags = [user === m.me ? "you" : null, user === m.host ? "host" : null];
      if (m.away.has(user)) tags.push("reconnecting…");
      const what = el("span", { className: "what muted", text: tags.filter(Boolean).join(" · ") });
      who.append(name, what);
      const code = this.codes.get(user);
      if (user !== m.me && code) {
        // One code per pair: the two of us see the same one only if no one is in between.
        const line = el("span", {
          className: "pair-code",
          text: `Code ${code} · compare it with ${user}`,
          attrs: { "data-testid": "pair-code", "data-code": code },
        });
        who.append(line);
        displayName(user).then((shown) => {
          if (shown) line.textContent = `Code ${code} · compare it with ${shown}`;
        });
      }
      item.append(who);
      displayName(user).then((shown) => (name.textContent = fullName(user, shown)));
      let actions = null;
      if (m.isHost && user !== m.me && !m.away.has(user)) {
        actions = el("div", { className: "row-actions" });
        actions.append(
          button("Ask to mute", "mute", "ask-mute", `Ask to mute: ${user}`),
          button("Make host", "host", "make-host", `Make host: ${user}`),
          button("Remove", "remove", "remove-participant", `Remove ${user}`),
        );
        item.append(actions);
      }
      this.social.decorateRow(user, who, actions);
      list.append(item);
    }
    const count = m.participants.length;
    setText("meeting-count", `${count} ${count === 1 ? "person" : "people"}`);
    for (const user of this.tiles.keys()) {
      if (!m.participants.includes(user) || m.away.has(user)) this.removeTile(user);
    }
    for (const tile of [this.localTile, ...this.tiles.values()]) {
      tile.tile.classList.toggle("is-host", tile.user === m.host);
    }
    this.layoutGrid();
  }

  renderWaiting() {
    const m = this.meeting;
    const list = $("waiting-list");
    list.replaceChildren();
    for (const user of m.isHost ? m.waiting : []) {
      const item = el("li", {
        className: "list-item",
        attrs: { "data-testid": "waiting-item", "data-username": user },
      });
      const who = el("div", { className: "who" });
      const name = el("span", { className: "name", text: user });
      who.append(name);
      displayName(user).then((shown) => (name.textContent = fullName(user, shown)));
      const actions = el("div", { className: "row-actions" });
      const admit = button("Admit", "admit", "admit", `Admit ${user}`);
      admit.classList.add("btn-accept");
      actions.append(admit, button("Deny", "deny", "deny", `Turn ${user} away`));
      item.append(who, actions);
      list.append(item);
    }
    const waiting = m.isHost ? m.waiting.length : 0;
    $("waiting-empty").hidden = waiting > 0;
    $("admit-all").disabled = waiting === 0;
    $("admit-all").textContent = waiting > 1 ? `Admit all (${waiting})` : "Admit all";
  }

  // --- Tiles ------------------------------------------------------------------------------

  makeTile(user, local = false) {
    const tile = el("figure", {
      className: `tile${local ? " tile-local" : ""}`,
      attrs: { "data-testid": "meeting-tile", "data-username": user, "data-remote": String(!local) },
    });
    const video = el("video", { attrs: { autoplay: "", playsinline: "" } });
    video.muted = local; // never hear ourselves
    if (local) video.setAttribute("muted", "");
    const label = el("figcaption", { className: "tile-label", text: local ? `${user} (you)` : user });
    const quality = el("span", {
      className: "quality tile-quality",
      attrs: { "data-level": "unknown", role: "img", "aria-label": "Connecting" },
    });
    quality.append(el("span", { className: "quality-dot", attrs: { "aria-hidden": "true" } }));
    tile.append(video, label);
    if (!local) tile.append(quality);
    displayName(user).then((shown) => {
      if (shown) label.textContent = local ? `${shown} (you)` : shown;
    });
    return { user, tile, video, label, quality };
  }

  /** A new connection to `user` (first, or after they came back): its tile follows it. */
  showPeer(user, peer) {
    let entry = this.tiles.get(user);
    if (!entry) {
      entry = this.makeTile(user);
      this.tiles.set(user, entry);
      $("meeting-grid").append(entry.tile);
      this.social.addTile(user, entry);
      this.layout.addTile(user, entry);
      markSharing(entry, this.meeting.sharer === user);
      this.renderRoster();
    }
    const { quality, tile } = entry;
    tile.dataset.state = "connecting";
    peer.watchSize?.(entry.video); // an SFU feed: the tile's size picks its simulcast layer
    peer.addEventListener("remote-stream", (e) => {
      entry.cameraStream = e.detail;
      this.renderScreen(entry);
    });
    peer.addEventListener("remote-screen", (e) => {
      entry.screenStream = e.detail;
      this.renderScreen(entry);
    });
    peer.addEventListener("state", (e) => (tile.dataset.state = e.detail));
    peer.addEventListener("code", (e) => {
      if (this.meeting.peers.get(user) !== peer) return; // an old connection's late answer
      if (e.detail) this.codes.set(user, e.detail);
      else this.codes.delete(user);
      this.renderRoster();
    });
    peer.addEventListener("quality", (e) => {
      quality.dataset.level = e.detail.level;
      quality.setAttribute("aria-label", describeQuality(e.detail));
      quality.title = describeQuality(e.detail);
    });
  }

  removeTile(user) {
    this.codes.delete(user);
    const entry = this.tiles.get(user);
    if (!entry) return;
    this.tiles.delete(user);
    this.social.removeTile(user);
    this.layout.removeTile(user);
    entry.video.srcObject = null;
    if (entry.camera) entry.camera.srcObject = null;
    entry.tile.remove();
    this.layoutGrid();
  }

  /** The tile entry of `user` (mine included), or undefined. */
  tileOf(user) {
    return user === this.meeting.me ? this.localTile : this.tiles.get(user);
  }

  /** The grid's column count follows the number of tiles (CSS reads data-count). */
  layoutGrid() {
    $("meeting-grid").dataset.count = String(this.tiles.size + 1);
    this.layout?.fit();
  }

  /** The "Devices" drawer: switch camera, microphone or speaker during the meeting. */
  toggleDevices() {
    const drawer = $("meeting-devices");
    const open = drawer.hidden && Boolean(this.meeting.local);
    drawer.hidden = !open;
    $("meeting-devices-button").setAttribute("aria-expanded", String(open));
    if (open) devicePanel.show("meeting-devices", this.meeting.local);
    else devicePanel.hide();
  }

  /** While sharing: the button says "Stop sharing" and my tile shows the screen. */
  renderSharing(sharing) {
    const share = $("meeting-share");
    share.setAttribute("aria-pressed", String(sharing));
    setButton(share, sharing ? "Stop sharing" : "Share screen");
    const local = this.meeting.local;
    this.localTile.tile.classList.toggle("sharing", sharing);
    this.localTile.video.srcObject = sharing && local ? new MediaStream([local.screen]) : this.meeting.stream;
  }

  /**
   * A remote tile's videos: their camera (with their sound), or, while they share, their
   * screen large and their camera small in a corner (with the sound).
   */
  renderScreen(entry) {
    const sharing = this.meeting.sharer === entry.user && Boolean(entry.screenStream);
    const main = sharing ? entry.screenStream : (entry.cameraStream ?? null);
    if (entry.video.srcObject !== main) {
      entry.video.srcObject = main;
      applySpeaker(entry.video);
      entry.video.play().catch(() => {}); // autoplay may wait for a click; media flows anyway
    }
    // An SFU feed picks its camera's simulcast layer from the size of the camera's video.
    const cameraShownBy = (video) => this.meeting.peers.get(entry.user)?.watchSize?.(video);
    if (!sharing) {
      entry.camera?.remove();
      entry.camera = null;
      cameraShownBy(entry.video);
      return;
    }
    if (!entry.camera) {
      entry.camera = el("video", {
        className: "tile-camera",
        attrs: { autoplay: "", playsinline: "", "data-testid": "sharer-camera" },
      });
      entry.tile.append(entry.camera);
    }
    if (entry.camera.srcObject !== entry.cameraStream) {
      entry.camera.srcObject = entry.cameraStream ?? null;
      applySpeaker(entry.camera);
      entry.camera.play().catch(() => {});
    }
    cameraShownBy(entry.camera);
  }

  /** "Ann Arbor joined the meeting." through the aria-live region, by display name. */
  say(user, what) {
    displayName(user).then((shown) => announce(`${shown || user} ${what}.`));
  }

  /** Someone shares (or nobody): their tile is shown large, and it is said. */
  onSharer({ user, takenFrom }) {
    const m = this.meeting;
    for (const entry of [this.localTile, ...this.tiles.values()]) markSharing(entry, entry.user === user);
    for (const entry of this.tiles.values()) this.renderScreen(entry);
    this.layout.setSharer(user === m.me ? null : user);
    const before = this.shownSharer ?? null;
    if (before === user) return;
    this.shownSharer = user;
    if (!user) {
      this.say(before, "stopped sharing");
      return;
    }
    displayName(user).then((shown) => {
      const who = user === m.me ? "You are" : `${shown || user} is`;
      if (takenFrom === m.me) notice(`${shown || user} (the host) took over screen sharing.`);
      announce(`${who} sharing a screen.`);
    });
  }

  onLocalStream({ stream, message }) {
    if (message) notice(message, { kind: "error", ms: 12000 });
    const sharing = Boolean(this.meeting.local?.screen);
    if (!sharing && this.localTile.video.srcObject !== stream) this.localTile.video.srcObject = stream;
    if ($("waiting-preview").srcObject !== stream) $("waiting-preview").srcObject = stream;
    this.renderToggles();
  }

  renderToggles() {
    const stream = this.meeting.stream;
    const audio = stream?.getAudioTracks()[0];
    const video = stream?.getVideoTracks()[0];
    const muted = Boolean(audio && !audio.enabled);
    const cameraOff = Boolean(video && !video.enabled);
    const mic = $("meeting-mic");
    const camera = $("meeting-camera");
    mic.disabled = !audio;
    camera.disabled = !video;
    mic.setAttribute("aria-pressed", String(muted));
    setButton(mic, muted ? "Unmute" : "Mute", muted ? "mic-off" : "mic");
    camera.setAttribute("aria-pressed", String(cameraOff));
    setButton(camera, cameraOff ? "Camera on" : "Camera off", cameraOff ? "camera-off" : "camera");
    this.localTile.tile.classList.toggle("muted", muted);
    this.localTile.tile.classList.toggle("camera-off", cameraOff);
    if (muted) $("meeting-mute-prompt").hidden = true;
  }

  onMuteRequest(from) {
    const audio = this.meeting.stream?.getAudioTracks()[0];
    if (!audio || !audio.enabled) return; // nothing to mute
    setText("meeting-mute-text", `${from} (the host) asks you to mute your microphone.`);
    $("meeting-mute-prompt").hidden = false;
    $("meeting-mute-me").focus();
  }

  close(detail) {
    this.abort.abort();
    this.social.close();
    this.layout.close();
    devicePanel.hide();
    $("meeting-devices").hidden = true;
    $("meeting-devices-button").setAttribute("aria-expanded", "false");
    this.renderSharing(false);
    for (const user of [...this.tiles.keys()]) this.removeTile(user);
    this.localTile.video.srcObject = null;
    $("waiting-preview").srcObject = null;
    $("meeting-grid").replaceChildren();
    $("participant-list").replaceChildren();
    $("waiting-list").replaceChildren();
    $("meeting-invite-link").value = "";
    $("meeting-mute-prompt").hidden = true;
    this.onOver(detail);
  }
}
