// Which simulcast layer an SFU feed's tile needs (meetingsfu.js asks Janus for it). A
// publisher uploads two layers, the low one half as wide as the high one; a subscriber
// takes the low layer while its tile is drawn so small that the high one would only be
// scaled down, and the high layer when the tile is large (speaker view, full screen, a
// grid of two). Pure functions, so node --test can check them (tests/js/simulcast.test.mjs).

export const LOW = 0; // Janus's `substream` numbers: 0 is the lowest layer
export const HIGH = 1;

// Below this share of the high layer's width, the half-width low layer is drawn at most
// 1.2x enlarged: sharp enough, at a quarter of the pixels.
const SWITCH = 0.6;
// A tile must cross the switch point by this share before the layer changes back, so a
// tile whose size hovers around it does not make the layer flap.
const BAND = 0.15;

/**
 * The width in device pixels that a video of aspect `aspect` (width / height) is scaled
 * to in a `width` x `height` CSS-pixel box with CSS `object-fit` `fit` ("cover" fills
 * the box and crops, "contain" fits inside it), at `pixelRatio` device pixels per CSS
 * pixel. Zero for an empty box.
 */
export function drawnWidth({ width, height, aspect, fit = "cover", pixelRatio = 1 }) {
  if (!(width > 0) || !(height > 0)) return 0;
  if (!(aspect > 0)) return width * pixelRatio;
  const scaled = fit === "contain" ? Math.min(width, height * aspect) : Math.max(width, height * aspect);
  return scaled * pixelRatio;
}

/**
 * The layer (LOW or HIGH) for a video drawn `drawn` device pixels wide, whose high layer
 * is `highWidth` pixels wide, when `current` (LOW, HIGH or null for none asked yet) is
 * what we receive now. Without a known high width (no frame seen yet) it keeps `current`,
 * or HIGH (Janus's own default) when there is none.
 */
export function pickLayer(drawn, highWidth, current = null) {
  if (!(highWidth > 0) || !(drawn >= 0)) return current ?? HIGH;
  const edge = highWidth * SWITCH;
  if (current === LOW) return drawn > edge * (1 + BAND) ? HIGH : LOW;
  if (current === HIGH) return drawn < edge * (1 - BAND) ? LOW : HIGH;
  return drawn > edge ? HIGH : LOW;
}
