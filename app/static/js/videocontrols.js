// "Full screen" and "Picture in picture" buttons for a remote video. Full screen shows the
// whole `target` (the video with its name and badges); picture in picture floats the
// <video> itself. Where the browser has no picture in picture (Firefox, some headless
// builds), that button stays but is disabled and says why.

import { el } from "./ui.js";

function pipAvailable(video) {
  return Boolean(document.pictureInPictureEnabled && typeof video.requestPictureInPicture === "function");
}

/**
 * Two buttons in a `.video-controls` box appended to `target`, for `video`; `name` (a
 * string or a function returning one) goes into their accessible names.
 */
export function addVideoControls(target, video, name, { testPrefix = "" } = {}) {
  const who = () => (typeof name === "function" ? name() : name);
  const box = el("div", { className: "video-controls" });
  const full = el("button", {
    className: "btn btn-chip video-control",
    attrs: { type: "button", "data-testid": `${testPrefix}fullscreen-button`, "aria-pressed": "false" },
  });
  const pip = el("button", {
    className: "btn btn-chip video-control",
    attrs: { type: "button", "data-testid": `${testPrefix}pip-button`, "aria-pressed": "false" },
  });
  box.append(full, pip);
  target.append(box);

  const render = () => {
    const isFull = document.fullscreenElement === target;
    full.textContent = isFull ? "Exit full screen" : "Full screen";
    full.setAttribute("aria-label", isFull ? "Exit full screen" : `Full screen: ${who()}`);
    full.setAttribute("aria-pressed", String(isFull));
    const isPip = document.pictureInPictureElement === video;
    pip.textContent = isPip ? "Exit picture in picture" : "Picture in picture";
    pip.setAttribute("aria-label", isPip ? "Exit picture in picture" : `Picture in picture: ${who()}`);
    pip.setAttribute("aria-pressed", String(isPip));
    pip.disabled = !pipAvailable(video);
    pip.title = pip.disabled ? "Picture in picture is not available in this browser." : "";
  };
  full.addEventListener("click", async () => {
    try {
      if (document.fullscreenElement === target) await document.exitFullscreen();
      else await target.requestFullscreen();
    } catch (err) {
      console.warn("full screen refused", err);
    }
    render();
  });
  pip.addEventListener("click", async () => {
    try {
      if (document.pictureInPictureElement === video) await document.exitPictureInPicture();
      else await video.requestPictureInPicture();
    } catch (err) {
      console.warn("picture in picture refused", err); // no picture yet, or not allowed
    }
    render();
  });
  const controller = new AbortController();
  document.addEventListener("fullscreenchange", render, { signal: controller.signal });
  video.addEventListener("enterpictureinpicture", render, { signal: controller.signal });
  video.addEventListener("leavepictureinpicture", render, { signal: controller.signal });
  render();
  return {
    render,
    remove() {
      controller.abort();
      box.remove();
    },
  };
}
