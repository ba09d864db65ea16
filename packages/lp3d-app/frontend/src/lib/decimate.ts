/** Min/max decimation: per column of `step` values, its minimum then its maximum (NaN / null ignored). */
export function decimateMinMax(values: ArrayLike<number | null>, step: number): (number | null)[] {
  const n = values.length;
  if (step <= 1) return Array.from(values, (v) => (v === null || Number.isNaN(v) ? null : v));
  const out: (number | null)[] = [];
  for (let start = 0; start < n; start += step) {
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = start; i < Math.min(start + step, n); i++) {
      const v = values[i];
      if (v === null || Number.isNaN(v)) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    out.push(lo === Infinity ? null : lo, hi === -Infinity ? null : hi);
  }
  return out;
}

/** Frames per column so that `n` frames fit `width` columns of two points each (1: no decimation). */
export function bucketSize(n: number, width: number): number {
  if (width < 1) throw new Error(`width: expected a positive number of columns, but got ${width}`);
  return n <= 2 * width ? 1 : Math.ceil(n / width);
}

/** The time axis of a decimated series: each column's first frame, then half a column later. */
export function decimatedTime(start: number, stop: number, step: number): number[] {
  const out: number[] = [];
  if (step <= 1) {
    for (let t = start; t < stop; t++) out.push(t);
    return out;
  }
  for (let t = start; t < stop; t += step) out.push(t, t + (step - 1) / 2);
  return out;
}
