// Which simulcast layer an SFU feed's tile asks for (simulcastlayer.js).
import assert from "node:assert/strict";
import { test } from "node:test";

import { HIGH, LOW, drawnWidth, pickLayer } from "../../app/static/js/simulcastlayer.js";

test("a small grid tile takes the low layer, a large or full-screen one the high layer", () => {
  // A 640-wide camera: its low layer is 320 wide.
  assert.equal(pickLayer(160, 640), LOW); // the speaker view's strip
  assert.equal(pickLayer(300, 640), LOW); // a grid of nine
  assert.equal(pickLayer(460, 640), HIGH); // a grid of two or three
  assert.equal(pickLayer(1100, 640), HIGH); // full screen
  assert.equal(pickLayer(700, 1280), LOW); // a 1280-wide camera's low layer is 640 wide
});

test("a tile whose size hovers around the switch point keeps its layer", () => {
  let layer = pickLayer(370, 640);
  assert.equal(layer, LOW);
  for (const width of [380, 395, 410, 390, 420, 375]) {
    layer = pickLayer(width, 640, layer);
    assert.equal(layer, LOW, `flapped up at ${width}`);
  }
  layer = pickLayer(460, 640, layer);
  assert.equal(layer, HIGH);
  for (const width of [400, 360, 340, 390]) {
    layer = pickLayer(width, 640, layer);
    assert.equal(layer, HIGH, `flapped down at ${width}`);
  }
  assert.equal(pickLayer(300, 640, layer), LOW);
});

test("no frame seen yet (no high width) keeps what we have, or Janus's default", () => {
  assert.equal(pickLayer(100, 0), HIGH);
  assert.equal(pickLayer(100, 0, LOW), LOW);
  assert.equal(pickLayer(Number.NaN, 640, HIGH), HIGH);
  assert.equal(pickLayer(0, 640), LOW); // laid out but not shown
});

test("the drawn width follows object-fit and the device pixel ratio", () => {
  // A 4:3 video in a 16:9 tile: cover scales it to the tile's width, contain to its height.
  assert.equal(drawnWidth({ width: 320, height: 180, aspect: 4 / 3 }), 320);
  assert.equal(drawnWidth({ width: 320, height: 180, aspect: 4 / 3, fit: "contain" }), 240);
  // A tall tile: cover has to scale the video wider than the tile.
  assert.equal(drawnWidth({ width: 160, height: 240, aspect: 4 / 3 }), 320);
  assert.equal(drawnWidth({ width: 320, height: 180, aspect: 4 / 3, pixelRatio: 2 }), 640);
  assert.equal(drawnWidth({ width: 0, height: 180, aspect: 4 / 3 }), 0);
  assert.equal(drawnWidth({ width: 300, height: 200, aspect: 0 }), 300); // no frame yet
});
