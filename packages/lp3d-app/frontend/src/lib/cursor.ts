/** The one time cursor every panel follows (videos, overlays, 3D, time series). */
import { clampFrame } from "./frames";

export type Listener = (frame: number) => void;

export class TimeCursor {
  private listeners = new Set<Listener>();
  constructor(public frame: number, public nFrames: number) {}

  set(frame: number): void {
    const next = clampFrame(frame, this.nFrames);
    if (next === this.frame) return;
    this.frame = next;
    for (const listener of this.listeners) listener(next);
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
