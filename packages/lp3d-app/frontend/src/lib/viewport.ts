/** How an image sits in a canvas: `screen = (image + 0.5) * scale + offset` (pixel centres at integers, as
 * OpenCV and the label files have them: image pixel i covers screen [offset + i * scale, offset + (i + 1) * scale)). */

export interface Viewport {
  scale: number;
  ox: number;
  oy: number;
}

/** The whole image, as large as the box allows, centred. */
export function fit(imageWidth: number, imageHeight: number, boxWidth: number, boxHeight: number): Viewport {
  const scale = Math.min(boxWidth / imageWidth, boxHeight / imageHeight);
  return { scale, ox: (boxWidth - imageWidth * scale) / 2, oy: (boxHeight - imageHeight * scale) / 2 };
}

export function toScreen(vp: Viewport, x: number, y: number): [number, number] {
  return [(x + 0.5) * vp.scale + vp.ox, (y + 0.5) * vp.scale + vp.oy];
}

export function toImage(vp: Viewport, sx: number, sy: number): [number, number] {
  return [(sx - vp.ox) / vp.scale - 0.5, (sy - vp.oy) / vp.scale - 0.5];
}

/** Zooms by `factor` about the screen point (sx, sy), which stays over the same image point; the scale
 * stays within [minScale, maxScale]. */
export function zoomAt(vp: Viewport, factor: number, sx: number, sy: number, minScale: number, maxScale: number): Viewport {
  const scale = Math.min(Math.max(vp.scale * factor, minScale), maxScale);
  const [x, y] = toImage(vp, sx, sy);
  return { scale, ox: sx - (x + 0.5) * scale, oy: sy - (y + 0.5) * scale };
}

export function pan(vp: Viewport, dx: number, dy: number): Viewport {
  return { scale: vp.scale, ox: vp.ox + dx, oy: vp.oy + dy };
}
