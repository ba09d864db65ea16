/** The viewer: every view of a session side by side, frame-accurate, with overlays, the 3D view and the
 * time series, all following one time cursor. A frame is drawn only when every view's image and the
 * overlays of that same frame have arrived; while playing, frames the network or server cannot keep up
 * with are skipped (and counted), never shown out of sync. */
import { api, type Frame, type Session } from "../api/client";
import { keypointColors } from "../lib/colors";
import { TimeCursor } from "../lib/cursor";
import { h, showError, type Page } from "../lib/dom";
import { droppedFrames, playbackFrame } from "../lib/frames";
import { OverlayPanel, defaultOverlays, individualShown, individualTint } from "../components/OverlayPanel";
import { PlaybackBar } from "../components/PlaybackBar";
import { Scene3D } from "../components/Scene3D";
import { TimeSeriesPanel } from "../components/TimeSeriesPanel";
import { VideoGrid } from "../components/VideoGrid";

async function loadImage(url: string): Promise<ImageBitmap | null> {
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) throw new Error(`video frame: ${(await response.json()).error ?? response.status}`);
  return createImageBitmap(await response.blob());
}

export function ViewerPage(sessionId: string, startFrame: number): Page {
  const element = h("section", { class: "viewer", "data-testid": "viewer-page" }, h("p", { text: "Opening the session…" }));
  const cleanups: (() => void)[] = [];
  let stopped = false;
  api
    .session(sessionId)
    .then((session) => open(session))
    .catch((err) => showError(element, err));

  function open(session: Session) {
    const cursor = new TimeCursor(Math.min(startFrame, Math.max(session.n_frames - 1, 0)), session.n_frames);
    const colors = keypointColors(session.keypoints.length);
    const overlays = defaultOverlays(session.sources, session.individuals);
    const grid = VideoGrid(session, colors);
    const scene = Scene3D(session.keypoints, session.skeleton as [string, string][], colors);
    const series = TimeSeriesPanel(session, cursor);
    let shown: { frame: number; images: (ImageBitmap | null)[]; overlay: Frame | null } | null = null;
    let busy = false;
    let wanted = cursor.frame;
    let dropped = 0;
    const playback = {
      playing: false,
      speed: 1,
      startFrame: 0,
      startMs: 0,
      toggle() {
        playback.playing = !playback.playing;
        if (playback.playing) {
          if (cursor.frame >= session.n_frames - 1) cursor.set(0);
          playback.startFrame = cursor.frame;
          playback.startMs = performance.now();
          dropped = 0;
          requestAnimationFrame(tick);
        }
        bar.setPlaying(playback.playing);
      },
    };
    const bar = PlaybackBar(cursor, session.fps, playback);
    const speedWatch = setInterval(() => {
      if (playback.playing && playback.speed !== lastSpeed) {
        playback.startFrame = cursor.frame;
        playback.startMs = performance.now();
      }
      lastSpeed = playback.speed;
    }, 100);
    let lastSpeed = 1;
    const redraw = () => shown && paint(shown);
    const panel = OverlayPanel(session.sources, session.keypoints, colors, overlays, () => {
      redraw();
      fetchFrame(cursor.frame);
    });

    function paint(state: NonNullable<typeof shown>) {
      grid.draw(state.frame, state.images, state.overlay, overlays);
      // the 3D view: the first shown source with a 3D result, each shown animal in its colour
      const first = state.overlay?.sources.find((s) => overlays.sources.includes(s.source) && s.position3d);
      const animals = (state.overlay?.sources ?? []).filter((s) => s.source === first?.source && s.position3d && individualShown(overlays, s.individual));
      scene.show(first ? animals.map((s) => ({ points: s.position3d!, color: individualTint(overlays, s.individual) })) : null, state.frame);
    }

    async function fetchFrame(frame: number) {
      wanted = frame;
      if (busy) return;
      busy = true;
      try {
        while (!stopped) {
          const target = wanted;
          const [overlay, ...images] = await Promise.all([
            overlays.sources.length ? api.frame(session.id, target, overlays.sources) : Promise.resolve(null),
            ...session.views.map((view) =>
              session.videos.some((v) => v.view === view) ? loadImage(api.videoUrl(session.id, view, target)) : Promise.resolve(null),
            ),
          ]);
          if (playback.playing && shown) dropped += droppedFrames(shown.frame, target);
          shown = { frame: target, images: images as (ImageBitmap | null)[], overlay: overlay as Frame | null };
          paint(shown);
          element.dataset.shown = String(target);
          bar.setDropped(dropped);
          if (wanted === target) break;
        }
      } catch (err) {
        playback.playing = false;
        bar.setPlaying(false);
        showError(status, err);
      } finally {
        busy = false;
      }
    }

    function tick() {
      if (!playback.playing || stopped) return;
      const frame = playbackFrame(playback.startFrame, playback.startMs, performance.now(), session.fps, playback.speed, session.n_frames);
      if (!busy && frame !== cursor.frame) cursor.set(frame);
      if (frame >= session.n_frames - 1 && !busy) {
        playback.playing = false;
        bar.setPlaying(false);
        return;
      }
      requestAnimationFrame(tick);
    }

    cleanups.push(
      cursor.subscribe((frame) => {
        fetchFrame(frame);
        history.replaceState(null, "", `#/viewer/${encodeURIComponent(session.id)}?frame=${frame}`);
      }),
      () => clearInterval(speedWatch),
      bar.destroy,
      scene.destroy,
      series.destroy,
    );
    const status = h("div", { class: "status", "data-testid": "viewer-status" });
    const missing = session.missing_videos.length
      ? h("p", {
          class: "notice",
          "data-testid": "missing-videos",
          text: `No video for ${session.missing_videos.join(", ")}: ${session.missing_videos.length > 1 ? "their" : "its"} overlays are drawn on a blank image (videos/${session.name}_<view>.mp4 in the data folder would show it).`,
        })
      : "";
    element.replaceChildren(
      h("h1", { text: `Session ${session.name}` }, h("span", { class: "hint", text: ` ${session.n_frames} frames at ${session.fps} fps · keys: space play/pause, ← → step, shift+← → jump 10` })),
      bar.element,
      missing,
      status,
      h("div", { class: "viewer-main" }, grid.element, panel),
      h("div", { class: "viewer-lower" }, h("div", { class: "scene-box" }, h("h3", { text: "3D" }), scene.element), series.element),
    );
    fetchFrame(cursor.frame);
    series.load();
  }

  return {
    element,
    destroy() {
      stopped = true;
      cleanups.forEach((c) => c());
    },
  };
}
