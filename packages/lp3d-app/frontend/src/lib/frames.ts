/** Frame and time arithmetic: the frame index is the truth; seconds are frame / fps. */

export function clampFrame(frame: number, nFrames: number): number {
  if (nFrames <= 0) return 0;
  return Math.min(Math.max(Math.round(frame), 0), nFrames - 1);
}

export function stepFrame(frame: number, delta: number, nFrames: number): number {
  return clampFrame(frame + delta, nFrames);
}

/** `m:ss.fff` of a frame at `fps`. */
export function formatTime(frame: number, fps: number): string {
  const seconds = fps > 0 ? frame / fps : 0;
  const m = Math.floor(seconds / 60);
  const s = seconds - 60 * m;
  return `${m}:${s.toFixed(3).padStart(6, "0")}`;
}

/** Parses what a user types in "go to frame": a frame number, or a time `m:ss(.fff)` / `12.5s`. */
export function parseFrame(text: string, fps: number, nFrames: number): number | null {
  const t = text.trim();
  let frame: number;
  if (/^\d+$/.test(t)) frame = Number(t);
  else if (/^\d+:\d+(\.\d+)?$/.test(t)) {
    const [m, s] = t.split(":");
    frame = Math.round((Number(m) * 60 + Number(s)) * fps);
  } else if (/^\d+(\.\d+)?s$/.test(t)) frame = Math.round(Number(t.slice(0, -1)) * fps);
  else return null;
  return frame >= 0 && frame < nFrames ? frame : null;
}

/**
 * Where playback should be now: started at `startFrame` at clock `startMs`, at `fps` x `speed`.
 * Playback never runs past the last frame.
 */
export function playbackFrame(startFrame: number, startMs: number, nowMs: number, fps: number, speed: number, nFrames: number): number {
  const elapsed = Math.max(nowMs - startMs, 0) / 1000;
  return clampFrame(startFrame + Math.floor(elapsed * fps * speed), nFrames);
}

/** Frames skipped when the viewer shows `next` after `shown` (0 when it keeps up). */
export function droppedFrames(shown: number, next: number): number {
  return Math.max(next - shown - 1, 0);
}

/** A view's image (width, height): its video's, else the size the server knows (its calibration's);
 * 640 × 512 when nothing says. */
export function imageSize(
  session: { videos: { view: string; width: number; height: number }[]; image_sizes: Record<string, [number, number]> },
  view: string,
): [number, number] {
  const video = session.videos.find((v) => v.view === view);
  if (video) return [video.width, video.height];
  const known = session.image_sizes[view];
  return known ? [known[0], known[1]] : [640, 512];
}
