/** All views side by side: each view's frame with the overlays of the same frame, drawn together. A view
 * without a video is drawn blank at its image size (its video's, else its calibration's) and says so.
 * Several animals: each animal's skeleton, rings around its EKS points and its name in its own colour; a
 * hidden animal is not drawn. */
import type { Frame, Session } from "../api/client";
import { withAlpha } from "../lib/colors";
import { imageSize } from "../lib/frames";
import { h } from "../lib/dom";
import { individualShown, individualTint, type OverlayState } from "./OverlayPanel";

const SOURCE_COLORS = ["#ff9800", "#8bc34a", "#e040fb", "#03a9f4"];
type P = (number | null)[];

export function VideoGrid(session: Session, colors: string[]) {
  const canvases = session.views.map((view) => {
    const [width, height] = imageSize(session, view);
    return h("canvas", { width, height, "data-view": view, "data-testid": `view-${view}` });
  });
  const captions = session.views.map((view) => {
    const missing = session.missing_videos.includes(view);
    const known = view in session.image_sizes;
    const note = missing ? ` · no video${known ? "" : " (image size unknown: 640 × 512 shown)"}` : "";
    return h("figcaption", { text: view + note, class: missing ? "missing" : "" });
  });
  const element = h("div", { class: "video-grid" }, ...canvases.map((c, i) => h("figure", {}, c, captions[i])));

  function draw(frame: number, images: (ImageBitmap | null)[], overlay: Frame | null, state: OverlayState) {
    canvases.forEach((canvas, v) => {
      const ctx = canvas.getContext("2d")!;
      const scale = Math.max(canvas.width, canvas.height) / 400;
      ctx.fillStyle = "#111";
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      const image = images[v];
      if (image) ctx.drawImage(image, 0, 0, canvas.width, canvas.height);
      else if (session.missing_videos.includes(session.views[v])) {
        ctx.fillStyle = "#777";
        const size = Math.max(8, Math.round(canvas.height / 9));
        ctx.font = `${size}px sans-serif`;
        ctx.fillText(`no video for ${session.views[v]}`, size / 2, size * 1.3);
      }
      const animals = new Set<string>();
      if (overlay) {
        const order = [...new Set(overlay.sources.map((s) => s.source))]; // an entry per source and animal
        overlay.sources.forEach((src) => {
          if (!state.sources.includes(src.source) || !individualShown(state, src.individual)) return;
          const sourceInfo = session.sources.find((s) => s.id === src.source);
          const vi = sourceInfo ? sourceInfo.views.indexOf(session.views[v]) : v;
          if (vi < 0) return;
          drawSource(ctx, src, vi, order.indexOf(src.source), scale, state);
          if (src.individual) animals.add(src.individual);
        });
      }
      canvas.dataset.frame = String(frame);
      canvas.dataset.animals = [...animals].join(",");
    });
  }

  function drawSource(ctx: CanvasRenderingContext2D, src: Frame["sources"][number], v: number, si: number, scale: number, state: OverlayState) {
    const L = state.layers;
    const accent = si === 0 ? null : SOURCE_COLORS[(si - 1) % SOURCE_COLORS.length];
    const tint = individualTint(state, src.individual);
    const ok = (p: P | undefined): p is [number, number] => !!p && p[0] !== null && p[1] !== null;
    const track = (src.smoothed?.[v] ?? src.center[v]) as P[];
    if (L.skeleton.on && track) {
      ctx.strokeStyle = tint ?? L.skeleton.color;
      ctx.lineWidth = 1.5 * scale;
      for (const [a, b] of skeletonPairs) {
        const p = track[a];
        const q = track[b];
        if (ok(p) && ok(q)) {
          ctx.beginPath();
          ctx.moveTo(p[0], p[1]);
          ctx.lineTo(q[0], q[1]);
          ctx.stroke();
        }
      }
    }
    if (L.members.on && src.members) {
      ctx.fillStyle = accent ?? L.members.color;
      for (const member of src.members) for (const p of member[v] as P[]) if (ok(p)) ctx.fillRect(p[0] - scale, p[1] - scale, 2 * scale, 2 * scale);
    }
    if (L.center.on) {
      ctx.strokeStyle = accent ?? L.center.color;
      ctx.lineWidth = scale;
      for (const p of src.center[v] as P[]) {
        if (!ok(p)) continue;
        const r = 3 * scale;
        ctx.beginPath();
        ctx.moveTo(p[0] - r, p[1] - r);
        ctx.lineTo(p[0] + r, p[1] + r);
        ctx.moveTo(p[0] + r, p[1] - r);
        ctx.lineTo(p[0] - r, p[1] + r);
        ctx.stroke();
      }
    }
    if (L.triangulated.on && src.triangulated) {
      ctx.strokeStyle = L.triangulated.color;
      ctx.lineWidth = scale;
      for (const p of src.triangulated[v] as P[]) {
        if (!ok(p)) continue;
        const r = 3.5 * scale;
        ctx.beginPath();
        ctx.moveTo(p[0], p[1] - r);
        ctx.lineTo(p[0] + r, p[1]);
        ctx.lineTo(p[0], p[1] + r);
        ctx.lineTo(p[0] - r, p[1]);
        ctx.closePath();
        ctx.stroke();
      }
    }
    if (src.smoothed) {
      (src.smoothed[v] as P[]).forEach((p, k) => {
        if (!ok(p)) return;
        const color = colors[k % colors.length];
        const variance = src.smoothed_variance?.[v]?.[k] as P | undefined;
        if (L.ellipses.on && ok(variance)) {
          ctx.strokeStyle = withAlpha(color, 0.9);
          ctx.lineWidth = scale;
          ctx.beginPath();
          ctx.ellipse(p[0], p[1], 1.96 * Math.sqrt(Math.max(variance[0], 0)), 1.96 * Math.sqrt(Math.max(variance[1], 0)), 0, 0, 2 * Math.PI);
          ctx.stroke();
        }
        if (L.smoothed.on) {
          ctx.fillStyle = color;
          ctx.beginPath();
          ctx.arc(p[0], p[1], 2.5 * scale, 0, 2 * Math.PI);
          ctx.fill();
          if (tint) {
            ctx.strokeStyle = tint;
            ctx.lineWidth = 1.5 * scale;
            ctx.beginPath();
            ctx.arc(p[0], p[1], 4 * scale, 0, 2 * Math.PI);
            ctx.stroke();
          }
        }
      });
    }
    if (tint && src.individual) {
      const shown = track.filter(ok);
      if (shown.length) {
        // the animal's name above its highest point
        const top = shown.reduce((a, b) => (b[1] < a[1] ? b : a));
        ctx.fillStyle = tint;
        ctx.font = `${Math.round(9 * scale)}px sans-serif`;
        ctx.fillText(src.individual, top[0] + 4 * scale, top[1] - 4 * scale);
      }
    }
    if (L.inflated.on && src.inflated) {
      ctx.strokeStyle = L.inflated.color;
      ctx.lineWidth = 1.5 * scale;
      src.inflated[v].forEach((flag, k) => {
        const p = src.center[v][k] as P;
        if (!flag || !ok(p)) return;
        ctx.beginPath();
        ctx.arc(p[0], p[1], 7 * scale, 0, 2 * Math.PI);
        ctx.stroke();
      });
    }
  }

  const skeletonPairs = session.skeleton
    .map(([a, b]) => [session.keypoints.indexOf(a), session.keypoints.indexOf(b)] as [number, number])
    .filter(([a, b]) => a >= 0 && b >= 0);

  return { element, draw };
}

