// How a meeting's tiles fill the window: a grid whose tiles are as large as the space
// allows (gridfit.js), or the active speaker large with the others in a strip below. Also
// marks who is speaking (speaking.js) and gives each remote tile full screen and picture
// in picture (videocontrols.js). MeetingView owns the tiles; this only sizes and marks them.

import { bestGrid } from "./gridfit.js";
import { watchSpeaking } from "./speaking.js";
import { addVideoControls } from "./videocontrols.js";
import { $ } from "./ui.js";

const GAP = 8;
const STRIP_HEIGHT = 120; // the others' tiles under the active speaker
const WIDE = "(min-width: 760px)"; // below this the page scrolls and the grid just wraps

export class MeetingLayout {
  constructor(view, signal) {
    this.view = view;
    this.meeting = view.meeting;
    this.mode = "grid"; // or "speaker"
    this.speaker = null; // the username shown large in speaker view
    this.sharer = null; // someone else sharing a screen: shown large whatever the mode
    this.loudness = new Map();
    this.controls = new Map(); // username -> video controls of their tile
    const grid = $("meeting-grid");
    this.grid = grid;
    $("meeting-layout").addEventListener("click", () => this.setMode(this.mode === "grid" ? "speaker" : "grid"), { signal });
    window.addEventListener("resize", () => this.fit(), { signal });
    if (typeof window.ResizeObserver === "function") {
      const observer = new window.ResizeObserver(() => this.fit());
      observer.observe(grid);
      signal.addEventListener("abort", () => observer.disconnect());
    }
    const stop = watchSpeaking(
      () => [...this.meeting.peers].map(([user, peer]) => [user, peer.pc]),
      (user, speaking, loudness) => this.onLevel(user, speaking, loudness),
    );
    signal.addEventListener("abort", stop);
    this.setMode("grid");
  }

  setMode(mode) {
    this.mode = mode;
    this.grid.dataset.layout = mode;
    const button = $("meeting-layout");
    button.setAttribute("aria-pressed", String(mode === "speaker"));
    button.textContent = mode === "speaker" ? "Grid view" : "Speaker view";
    this.fit();
  }

  /** A remote tile was made: full screen and picture in picture for its video. */
  addTile(user, entry) {
    const name = () => entry.label.textContent || user;
    this.controls.set(user, addVideoControls(entry.tile, entry.video, name));
    this.fit();
  }

  removeTile(user) {
    this.controls.get(user)?.remove();
    this.controls.delete(user);
    this.loudness.delete(user);
    if (this.speaker === user) this.speaker = null;
    this.fit();
  }

  onLevel(user, speaking, loudness) {
    const entry = this.view.tiles.get(user);
    if (!entry) return;
    entry.tile.dataset.speaking = String(speaking);
    this.loudness.set(user, speaking ? loudness : 0);
    // The active speaker changes only when someone else is speaking louder.
    const [loudest, level] = [...this.loudness].reduce((a, b) => (b[1] > a[1] ? b : a), [null, 0]);
    if (loudest && level > 0 && loudest !== this.speaker && !(this.loudness.get(this.speaker) > level)) {
      this.speaker = loudest;
      if (this.mode === "speaker") this.fit();
    }
  }

  /** Another participant's shared screen goes large, the others in the strip below. */
  setSharer(user) {
    this.sharer = user;
    this.fit();
  }

  /** The layout in use: a shared screen always gets the stage. */
  get effectiveMode() {
    return this.sharer && this.view.tiles.has(this.sharer) ? "speaker" : this.mode;
  }

  /** The tile shown large: a shared screen, else the active speaker, else the first other. */
  featured() {
    const tiles = this.view.tiles;
    if (tiles.has(this.sharer)) return tiles.get(this.sharer);
    const user = tiles.has(this.speaker) ? this.speaker : tiles.keys().next().value;
    return user ? tiles.get(user) : this.view.localTile;
  }

  /** Size every tile for the space the grid has (wide screens; a phone's grid just wraps). */
  fit() {
    const grid = this.grid;
    const all = [this.view.localTile, ...this.view.tiles.values()].filter(Boolean);
    const wide = window.matchMedia(WIDE).matches;
    grid.classList.toggle("fit", wide);
    const mode = this.effectiveMode;
    grid.dataset.layout = mode;
    for (const { tile } of all) tile.classList.remove("featured");
    if (mode === "speaker" && all.length > 1) this.featured().tile.classList.add("featured");
    if (!wide || !grid.clientWidth) return;
    const width = grid.clientWidth;
    const height = grid.clientHeight;
    if (mode === "speaker" && all.length > 1) {
      const main = bestGrid(1, width, height - STRIP_HEIGHT - GAP, GAP);
      grid.style.setProperty("--feature-w", `${main.tileWidth}px`);
      grid.style.setProperty("--feature-h", `${main.tileHeight}px`);
      grid.style.setProperty("--tile-w", `${Math.floor((STRIP_HEIGHT * 4) / 3)}px`);
      grid.style.setProperty("--tile-h", `${STRIP_HEIGHT}px`);
      return;
    }
    const best = bestGrid(all.length, width, height, GAP);
    grid.style.setProperty("--tile-w", `${best.tileWidth}px`);
    grid.style.setProperty("--tile-h", `${best.tileHeight}px`);
  }

  close() {
    for (const user of [...this.controls.keys()]) this.removeTile(user);
  }
}
