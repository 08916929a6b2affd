// What the others' microphones and cameras are doing, on their tiles: "Muted" and
// "Camera off" badges from their `media_state` messages (so they show at once, before
// media stalls) and, with the camera off, an avatar of their initials instead of black.

/** "Alice Liddell" -> "AL", "bob" -> "B". */
export function initials(name) {
  const words = String(name ?? "").trim().split(/[\s._-]+/).filter(Boolean);
  const letters = words.length > 1 ? [words[0], words[words.length - 1]] : words;
  return letters.map((w) => [...w][0].toUpperCase()).join("") || "?";
}

function make(tag, className, testid, text = "") {
  const node = document.createElement(tag);
  node.className = className;
  node.dataset.testid = testid;
  node.textContent = text;
  node.hidden = true;
  return node;
}

/** The badges and avatar laid over one remote video inside `container`. */
export class TileState {
  constructor(container) {
    this.avatar = make("div", "tile-avatar", "remote-avatar");
    this.avatar.setAttribute("aria-hidden", "true");
    this.badges = document.createElement("div");
    this.badges.className = "tile-badges";
    this.muted = make("span", "badge badge-muted", "remote-muted", "Muted");
    this.cameraOff = make("span", "badge badge-camera-off", "remote-camera-off", "Camera off");
    this.hand = make("span", "badge badge-hand", "remote-hand", "✋ Hand raised");
    this.badges.append(this.muted, this.cameraOff, this.hand);
    container.append(this.avatar, this.badges);
  }

  /** Show `state` ({audio, video}) of the person called `name`. */
  show(state, name) {
    this.muted.hidden = state.audio !== false;
    this.cameraOff.hidden = state.video !== false;
    this.avatar.hidden = state.video !== false;
    this.avatar.textContent = initials(name);
    this.muted.setAttribute("aria-label", `${name} is muted`);
    this.cameraOff.setAttribute("aria-label", `${name}’s camera is off`);
  }

  showHand(raised) {
    this.hand.hidden = !raised;
  }

  clear() {
    this.show({ audio: true, video: true }, "");
    this.showHand(false);
  }

  remove() {
    this.avatar.remove();
    this.badges.remove();
  }
}

/** My own microphone and camera as a `media_state` body. */
export function mediaStateOf(stream) {
  const audio = stream?.getAudioTracks()[0];
  const video = stream?.getVideoTracks()[0];
  return { audio: Boolean(audio?.enabled), video: Boolean(video?.enabled) };
}
