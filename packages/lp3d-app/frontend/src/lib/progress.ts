/** Time left of a job from its progress reports: the rate since the first report that counted any work
 * (a job's start-up, imports and reading, says nothing about its rate). */

export interface ProgressSample {
  t: number; // ms
  done: number;
  total: number | null;
  description: string;
}

/** Seconds left at the rate between the first and the last sample of the same step (same description
 * and total) that did any work; null when that cannot be said yet. */
export function timeLeft(samples: ProgressSample[]): number | null {
  const last = samples[samples.length - 1];
  if (!last || !last.total || last.done >= last.total) return last && last.total && last.done >= last.total ? 0 : null;
  const same = samples.filter((s) => s.total === last.total && s.description.split(" ")[0] === last.description.split(" ")[0] && s.done > 0);
  const first = same[0];
  if (!first || last.t <= first.t || last.done <= first.done) return null;
  const rate = (last.done - first.done) / (last.t - first.t); // per ms
  return (last.total - last.done) / rate / 1000;
}

export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
}
