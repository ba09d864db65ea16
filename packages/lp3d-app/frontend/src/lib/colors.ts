/** Colours: one per keypoint around the hue circle (as lp3d_io.video.keypoint_colors), one per animal, and a
 * variance ramp. */

export function hsvToRgb(h: number, s: number, v: number): [number, number, number] {
  const i = Math.floor(h * 6) % 6;
  const f = h * 6 - Math.floor(h * 6);
  const p = v * (1 - s);
  const q = v * (1 - f * s);
  const t = v * (1 - (1 - f) * s);
  const [r, g, b] = [
    [v, t, p],
    [q, v, p],
    [p, v, t],
    [p, q, v],
    [t, p, v],
    [v, p, q],
  ][i];
  return [Math.round(r * 255), Math.round(g * 255), Math.round(b * 255)];
}

export function toHex([r, g, b]: [number, number, number]): string {
  return "#" + [r, g, b].map((c) => c.toString(16).padStart(2, "0")).join("");
}

/** `n` distinct colours, evenly spaced in hue. */
export function keypointColors(n: number): string[] {
  return Array.from({ length: n }, (_, k) => toHex(hsvToRgb(k / Math.max(n, 1), 0.85, 0.95)));
}

/** Animals' colours (skeleton, rings, 3D): yellow (the skeleton's colour of one animal), magenta, green,
 * orange, blue; then evenly spaced hues. */
const INDIVIDUAL_COLORS = ["#ffeb3b", "#e040fb", "#00e676", "#ff6e40", "#40c4ff"];

/** `n` distinct colours for `n` animals. */
export function individualColors(n: number): string[] {
  return Array.from({ length: n }, (_, i) =>
    i < INDIVIDUAL_COLORS.length ? INDIVIDUAL_COLORS[i] : toHex(hsvToRgb(((i - INDIVIDUAL_COLORS.length) / Math.max(n - INDIVIDUAL_COLORS.length, 1) + 0.08) % 1, 0.6, 1)),
  );
}

/** A value in [lo, hi] on a blue -> yellow -> red ramp (for variances and errors). */
export function rampColor(value: number, lo: number, hi: number): string {
  const x = hi > lo ? Math.min(Math.max((value - lo) / (hi - lo), 0), 1) : 0;
  const stops: [number, number, number][] = [
    [49, 54, 149],
    [254, 224, 144],
    [165, 0, 38],
  ];
  const seg = x < 0.5 ? 0 : 1;
  const u = x < 0.5 ? x / 0.5 : (x - 0.5) / 0.5;
  const a = stops[seg];
  const b = stops[seg + 1];
  return toHex([0, 1, 2].map((i) => Math.round(a[i] + (b[i] - a[i]) * u)) as [number, number, number]);
}

/** `#rrggbb` with an alpha as `rgba(...)`. */
export function withAlpha(hex: string, alpha: number): string {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${alpha})`;
}
