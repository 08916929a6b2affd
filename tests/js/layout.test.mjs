// Tile sizes for the meeting grid (gridfit.js) and the speaking detector (speaking.js).
import assert from "node:assert/strict";
import { test } from "node:test";

import { bestGrid } from "../../app/static/js/gridfit.js";
import { SpeakingDetector } from "../../app/static/js/speaking.js";

test("two or three tiles in a laptop's grid area are far larger than 245x185", () => {
  const two = bestGrid(2, 940, 600);
  assert.deepEqual([two.columns, two.rows], [2, 1]);
  assert.ok(two.tileWidth >= 460 && two.tileHeight >= 340, JSON.stringify(two));
  const three = bestGrid(3, 940, 600);
  assert.deepEqual([three.columns, three.rows], [2, 2]);
  assert.ok(three.tileWidth >= 460 && three.tileHeight >= 290, JSON.stringify(three));
});

test("tiles keep an aspect between 4:3 and 16:9 and never overflow the box", () => {
  for (const [n, w, h] of [[1, 1200, 300], [1, 300, 1200], [4, 1000, 700], [7, 1500, 600], [12, 800, 800]]) {
    const g = bestGrid(n, w, h, 8);
    const aspect = g.tileWidth / g.tileHeight;
    assert.ok(aspect >= 4 / 3 - 0.02 && aspect <= 16 / 9 + 0.02, `${n} ${w}x${h}: ${aspect}`);
    assert.ok(g.columns * g.tileWidth + 8 * (g.columns - 1) <= w, `${n} ${w}x${h} too wide`);
    assert.ok(g.rows * g.tileHeight + 8 * (g.rows - 1) <= h, `${n} ${w}x${h} too tall`);
    assert.ok(g.columns * g.rows >= n);
  }
});

test("a box too small gives empty tiles, never negative ones", () => {
  assert.deepEqual(bestGrid(3, 0, 0), { columns: 1, rows: 3, tileWidth: 0, tileHeight: 0 });
  assert.equal(bestGrid(0, 100, 100).columns, 1);
});

test("speaking holds through short pauses and ends after the hold", () => {
  const d = new SpeakingDetector({ level: 0.02, holdMs: 900 });
  assert.equal(d.feed(0, 0), false);
  assert.equal(d.feed(0.3, 100), true);
  assert.equal(d.feed(0.001, 600), true); // a pause between words
  assert.equal(d.feed(0.001, 1001), false);
  assert.equal(d.feed(Number.NaN, 1100), false);
  assert.ok(d.loudness < 0.3 && d.loudness > 0);
});
