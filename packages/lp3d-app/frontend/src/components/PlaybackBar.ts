/** Play, pause, step, jump 10, go to frame, speed; the frame and time shown. Keyboard: space, arrows, shift+arrows, Home, End. */
import { formatTime, parseFrame } from "../lib/frames";
import type { TimeCursor } from "../lib/cursor";
import { h } from "../lib/dom";

export interface Playback {
  playing: boolean;
  speed: number;
  toggle(): void;
}

export function PlaybackBar(cursor: TimeCursor, fps: number, playback: Playback) {
  const play = h("button", { "data-testid": "play", title: "play / pause (space)", text: "▶" });
  const back10 = h("button", { title: "back 10 (shift+←)", text: "−10" });
  const back1 = h("button", { "data-testid": "step-back", title: "back one frame (←)", text: "−1" });
  const fwd1 = h("button", { "data-testid": "step", title: "next frame (→)", text: "+1" });
  const fwd10 = h("button", { "data-testid": "jump", title: "forward 10 (shift+→)", text: "+10" });
  const slider = h("input", { type: "range", min: 0, max: cursor.nFrames - 1, value: cursor.frame, "data-testid": "scrub", class: "scrub" });
  const goto = h("input", { type: "text", placeholder: "go to frame or m:ss", size: 12, "data-testid": "goto" });
  const speed = h("select", { "data-testid": "speed" }, ...[0.25, 0.5, 1, 2, 4].map((s) => h("option", { value: s, text: `${s}×`, selected: s === 1 })));
  const label = h("span", { class: "frame-label", "data-testid": "frame", text: "" });
  const dropped = h("span", { class: "dropped", "data-testid": "dropped", text: "" });
  const update = (frame: number) => {
    label.textContent = `frame ${frame} / ${cursor.nFrames - 1}  ${formatTime(frame, fps)}`;
    slider.value = String(frame);
  };
  update(cursor.frame);
  const unsubscribe = cursor.subscribe(update);
  play.onclick = () => playback.toggle();
  back10.onclick = () => cursor.set(cursor.frame - 10);
  back1.onclick = () => cursor.set(cursor.frame - 1);
  fwd1.onclick = () => cursor.set(cursor.frame + 1);
  fwd10.onclick = () => cursor.set(cursor.frame + 10);
  slider.oninput = () => cursor.set(Number(slider.value));
  goto.onkeydown = (e) => {
    if (e.key !== "Enter") return;
    const frame = parseFrame(goto.value, fps, cursor.nFrames);
    goto.classList.toggle("invalid", frame === null);
    if (frame !== null) cursor.set(frame);
  };
  speed.onchange = () => (playback.speed = Number(speed.value));
  const keys = (e: KeyboardEvent) => {
    if (e.target instanceof HTMLInputElement && e.target.type === "text") return;
    if (e.target instanceof HTMLSelectElement) return;
    const jump = e.shiftKey ? 10 : 1;
    if (e.key === " ") playback.toggle();
    else if (e.key === "ArrowRight") cursor.set(cursor.frame + jump);
    else if (e.key === "ArrowLeft") cursor.set(cursor.frame - jump);
    else if (e.key === "Home") cursor.set(0);
    else if (e.key === "End") cursor.set(cursor.nFrames - 1);
    else return;
    e.preventDefault();
  };
  window.addEventListener("keydown", keys);
  const element = h("div", { class: "playback" }, play, back10, back1, fwd1, fwd10, slider, goto, speed, label, dropped);
  return {
    element,
    setPlaying(playing: boolean) {
      play.textContent = playing ? "❚❚" : "▶";
      play.setAttribute("aria-pressed", String(playing));
    },
    setDropped(n: number) {
      dropped.textContent = n ? `${n} frames dropped` : "";
    },
    destroy() {
      unsubscribe();
      window.removeEventListener("keydown", keys);
    },
  };
}
