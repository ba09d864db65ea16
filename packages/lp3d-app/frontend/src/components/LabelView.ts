/** One view of the frame being labeled: its image (brightness, contrast), zoom about the cursor (wheel) and
 * pan (right or middle button, or space + drag), the marks in each keypoint's colour, the skeleton, the
 * triangulation suggestions and the reprojection error of each placed point, and the epipolar curves of the
 * chosen keypoint. A click places the chosen keypoint; dragging a mark moves it (Shift+drag: while the
 * chosen keypoint is still to place). */
import type { Guide } from "../api/client";
import { clampToImage, errorColor, type LabelState } from "../lib/labels";
import { h } from "../lib/dom";
import { fit, pan, toImage, toScreen, zoomAt, type Viewport } from "../lib/viewport";

export interface LabelScene {
  label: LabelState;
  selected: string;
  keypoints: string[];
  colors: string[];
  bones: [number, number][];
  guide: Guide | null;
  brightness: number;
  contrast: number;
}

export interface LabelViewEvents {
  /** A click placed (and maybe dragged) the chosen keypoint; called when the button is released. */
  placed(view: string, keypoint: string): void;
  /** A mark was moved (after the drag). */
  moved(view: string, keypoint: string): void;
  /** The mouse entered the view (the active view of the keyboard's actions). */
  entered(view: string): void;
  /** A mark was picked to drag: it becomes the chosen keypoint. */
  picked(keypoint: string): void;
}

const HIT = 9; // screen pixels around a mark that pick it

export function LabelView(view: string, size: [number, number], scene: () => LabelScene, events: LabelViewEvents) {
  const canvas = h("canvas", { "data-view": view, "data-testid": `label-view-${view}` });
  const caption = h("figcaption", { "data-testid": `label-caption-${view}` });
  const element = h("figure", { class: "label-view" }, canvas, caption);
  let image: CanvasImageSource | null = null;
  let [width, height] = size;
  let vp: Viewport = { scale: 1, ox: 0, oy: 0 };
  let zoomed = false;
  let drag: { kind: "mark"; keypoint: string; placed: boolean } | { kind: "pan"; x: number; y: number } | null = null;
  let space = false;

  function resize(boxWidth: number, boxHeight: number) {
    canvas.width = Math.max(1, Math.round(boxWidth));
    canvas.height = Math.max(1, Math.round(boxHeight));
    canvas.style.width = `${canvas.width}px`;
    canvas.style.height = `${canvas.height}px`;
    if (!zoomed) vp = fit(width, height, canvas.width, canvas.height);
    draw();
  }

  function setImage(next: CanvasImageSource | null, imageSize: [number, number]) {
    image = next;
    [width, height] = imageSize;
    zoomed = false;
    vp = fit(width, height, canvas.width, canvas.height);
    draw();
  }

  function resetZoom() {
    zoomed = false;
    vp = fit(width, height, canvas.width, canvas.height);
    draw();
  }

  function zoom(factor: number, sx = canvas.width / 2, sy = canvas.height / 2) {
    const base = fit(width, height, canvas.width, canvas.height).scale;
    vp = zoomAt(vp, factor, sx, sy, base, Math.max(base * 64, 40));
    zoomed = vp.scale > base * 1.0001;
    draw();
  }

  function draw() {
    const s = scene();
    const ctx = canvas.getContext("2d")!;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#111";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    if (image) {
      ctx.save();
      ctx.filter = `brightness(${s.brightness}) contrast(${s.contrast})`;
      ctx.imageSmoothingEnabled = vp.scale < 3;
      ctx.drawImage(image, vp.ox, vp.oy, width * vp.scale, height * vp.scale);
      ctx.restore();
    }
    const color = (k: string) => s.colors[s.keypoints.indexOf(k)] ?? "#fff";
    const at = (x: number, y: number) => toScreen(vp, x, y);
    // epipolar curves of the chosen keypoint, from the views where it is placed
    for (const e of s.guide?.epipolar ?? []) {
      if (e.target !== view) continue;
      ctx.save();
      ctx.strokeStyle = color(s.selected);
      ctx.globalAlpha = 0.85;
      ctx.setLineDash([6, 4]);
      ctx.lineWidth = 1.5;
      for (const curve of e.curves) {
        ctx.beginPath();
        curve.forEach(([x, y], i) => (i ? ctx.lineTo(...at(x, y)) : ctx.moveTo(...at(x, y))));
        ctx.stroke();
      }
      const last = e.curves[0]?.[Math.floor((e.curves[0]?.length ?? 0) / 2)];
      if (last) {
        ctx.fillStyle = color(s.selected);
        ctx.font = "11px sans-serif";
        ctx.fillText(`from ${e.source}`, at(...last)[0] + 4, at(...last)[1] - 4);
      }
      ctx.restore();
    }
    // skeleton
    ctx.save();
    ctx.strokeStyle = "rgba(255,235,59,0.7)";
    ctx.lineWidth = 1.5;
    for (const [a, b] of s.bones) {
      const p = s.label.position(view, s.keypoints[a]);
      const q = s.label.position(view, s.keypoints[b]);
      if (!p || !q) continue;
      ctx.beginPath();
      ctx.moveTo(...at(...p));
      ctx.lineTo(...at(...q));
      ctx.stroke();
    }
    ctx.restore();
    // suggestions where nothing is marked
    const suggested = s.guide?.suggested?.[view] ?? {};
    for (const [k, xy] of Object.entries(suggested)) {
      if (s.label.get(view, k) !== undefined) continue;
      const [sx, sy] = at(xy[0], xy[1]);
      const r = k === s.selected ? 8 : 6;
      ctx.save();
      ctx.strokeStyle = color(k);
      ctx.lineWidth = k === s.selected ? 2 : 1.2;
      ctx.setLineDash([3, 2]);
      ctx.beginPath();
      ctx.moveTo(sx, sy - r);
      ctx.lineTo(sx + r, sy);
      ctx.lineTo(sx, sy + r);
      ctx.lineTo(sx - r, sy);
      ctx.closePath();
      ctx.stroke();
      ctx.restore();
    }
    // marks and their reprojection errors
    const errors = s.guide?.errors?.[view] ?? {};
    let worst = 0;
    for (const k of s.keypoints) {
      const mark = s.label.get(view, k);
      if (!mark || mark === "hidden") continue;
      const [sx, sy] = at(mark.x, mark.y);
      const selected = k === s.selected;
      ctx.save();
      ctx.fillStyle = color(k);
      ctx.strokeStyle = color(k);
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.arc(sx, sy, selected ? 5 : 4, 0, 2 * Math.PI);
      if (mark.origin === "prefill") ctx.stroke();
      else ctx.fill();
      if (selected) {
        ctx.strokeStyle = "#fff";
        ctx.lineWidth = 1.5;
        ctx.beginPath();
        ctx.arc(sx, sy, 8, 0, 2 * Math.PI);
        ctx.stroke();
      }
      const e = errors[k];
      if (e !== undefined) {
        worst = Math.max(worst, e);
        ctx.font = "11px sans-serif";
        ctx.fillStyle = errorColor(e);
        ctx.fillText(e.toFixed(1), sx + 6, sy - 6);
      }
      ctx.restore();
    }
    canvas.dataset.scale = String(vp.scale);
    canvas.dataset.ox = String(vp.ox);
    canvas.dataset.oy = String(vp.oy);
    const placed = s.keypoints.filter((k) => s.label.position(view, k)).length;
    const hidden = s.keypoints.filter((k) => s.label.get(view, k) === "hidden").length;
    const zoomText = zoomed ? ` · zoom ${(vp.scale / fit(width, height, canvas.width, canvas.height).scale).toFixed(1)}×` : "";
    caption.textContent = `${view}: ${placed} placed${hidden ? `, ${hidden} not visible` : ""}${Object.keys(errors).length ? ` · worst error ${worst.toFixed(1)} px` : ""}${zoomText}`;
  }

  const point = (e: MouseEvent): [number, number] => {
    const box = canvas.getBoundingClientRect();
    return [e.clientX - box.left, e.clientY - box.top];
  };
  const inside = (x: number, y: number): [number, number] => clampToImage(x, y, width, height);

  canvas.addEventListener("contextmenu", (e) => e.preventDefault());
  canvas.addEventListener("mouseenter", () => events.entered(view));
  canvas.addEventListener("mousedown", (e) => {
    const [sx, sy] = point(e);
    if (e.button === 1 || e.button === 2 || space) {
      drag = { kind: "pan", x: sx, y: sy };
      e.preventDefault();
      return;
    }
    if (e.button !== 0) return;
    const s = scene();
    const [x, y] = toImage(vp, sx, sy);
    // a press on a mark drags it, unless the chosen keypoint is still to place here (then it is placed,
    // however near another mark: neighbouring keypoints are often a pixel or two apart); Shift: drag always
    const hit = e.shiftKey || s.label.position(view, s.selected) ? s.label.nearest(view, x, y, HIT / vp.scale) : null;
    if (hit) {
      events.picked(hit);
      s.label.beginDrag();
      drag = { kind: "mark", keypoint: hit, placed: false };
    } else {
      s.label.beginDrag();
      s.label.move(view, s.selected, ...inside(x, y));
      drag = { kind: "mark", keypoint: s.selected, placed: true };
    }
    draw();
    e.preventDefault();
  });
  window.addEventListener("mousemove", onMove);
  window.addEventListener("mouseup", onUp);
  function onMove(e: MouseEvent) {
    if (!drag) return;
    const [sx, sy] = point(e);
    if (drag.kind === "pan") {
      vp = pan(vp, sx - drag.x, sy - drag.y);
      zoomed = true;
      drag = { kind: "pan", x: sx, y: sy };
    } else scene().label.move(view, drag.keypoint, ...inside(...toImage(vp, sx, sy)));
    draw();
  }
  function onUp() {
    if (!drag) return;
    const done = drag;
    drag = null;
    if (done.kind === "pan") return;
    scene().label.endDrag();
    if (done.placed) events.placed(view, done.keypoint);
    else events.moved(view, done.keypoint);
  }
  canvas.addEventListener(
    "wheel",
    (e) => {
      e.preventDefault();
      const [sx, sy] = point(e);
      zoom(Math.pow(1.25, -e.deltaY / 100), sx, sy);
    },
    { passive: false },
  );
  const keys = (e: KeyboardEvent) => {
    if (e.key === " ") space = e.type === "keydown";
  };
  window.addEventListener("keydown", keys);
  window.addEventListener("keyup", keys);

  return {
    element,
    canvas,
    view,
    draw,
    resize,
    setImage,
    zoom,
    resetZoom,
    get imageSize(): [number, number] {
      return [width, height];
    },
    destroy() {
      window.removeEventListener("mousemove", onMove);
      window.removeEventListener("mouseup", onUp);
      window.removeEventListener("keydown", keys);
      window.removeEventListener("keyup", keys);
    },
  };
}

export type LabelViewHandle = ReturnType<typeof LabelView>;
