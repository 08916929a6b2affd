// How big the meeting's tiles can be: the column count that gives each of `count` tiles the
// largest picture in a `width` x `height` box. Pure arithmetic, so it is unit-tested.

const MIN_ASPECT = 4 / 3; // a camera's picture; a tile is never taller than this
const MAX_ASPECT = 16 / 9; // nor wider than this (the video is cropped to fill, not shrunk)

/**
 * The best grid for `count` tiles in `width` x `height` pixels with `gap` between them:
 * {columns, rows, tileWidth, tileHeight}, tiles as large as possible with an aspect ratio
 * between 4:3 and 16:9. A box too small for anything gives 0-sized tiles, never negative.
 */
export function bestGrid(count, width, height, gap = 8) {
  const n = Math.max(1, Math.floor(count));
  let best = { columns: 1, rows: n, tileWidth: 0, tileHeight: 0 };
  for (let columns = 1; columns <= n; columns += 1) {
    const rows = Math.ceil(n / columns);
    const cellWidth = (width - gap * (columns - 1)) / columns;
    const cellHeight = (height - gap * (rows - 1)) / rows;
    if (cellWidth <= 0 || cellHeight <= 0) continue;
    const tileHeight = Math.min(cellHeight, cellWidth / MIN_ASPECT);
    const tileWidth = Math.min(cellWidth, tileHeight * MAX_ASPECT);
    if (tileWidth * tileHeight > best.tileWidth * best.tileHeight) {
      best = { columns, rows, tileWidth: Math.floor(tileWidth), tileHeight: Math.floor(tileHeight) };
    }
  }
  return best;
}
