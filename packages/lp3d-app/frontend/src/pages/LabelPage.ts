/** The multi-view labeler: every view of a frame side by side (or one large, the others as thumbnails), the
 * keypoints in their colours, the skeleton; click to place the chosen keypoint (the next one is chosen),
 * drag to correct, zoom and pan, brightness and contrast, mark not visible, a few frames of temporal
 * context, undo and redo, keyboard shortcuts. With a calibration, a keypoint placed in two views is
 * triangulated into the others (accept with T), epipolar curves guide the next click, and each placed
 * point shows its reprojection error. What is typed is kept as a draft (server and browser) until saved
 * into the label files. */
import { api, type FrameSummary, type Guide, type LabelFrame, type Labels } from "../api/client";
import { LabelView, type LabelScene, type LabelViewHandle } from "../components/LabelView";
import { keypointColors } from "../lib/colors";
import { h, showError, type Page } from "../lib/dom";
import { errorColor, LabelState, marksFromPoints, newerDraft, readDraft, type Marks, type XY } from "../lib/labels";

const CONTEXT = 3; // frames before and after
const localKey = (id: string) => `lp3d-draft:${location.pathname}:${id}`;

function loadImage(url: string): Promise<HTMLImageElement | null> {
  return new Promise((resolve) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => resolve(null);
    image.src = url;
  });
}

function frameName(f: FrameSummary): string {
  return `${f.session || "(no session)"} · frame ${f.frame ?? "?"}`;
}

export function LabelPage(startId: string | null): Page {
  const element = h("section", { class: "labeler", "data-testid": "label-page" }, h("p", { text: "Loading the frames…" }));
  const cleanups: (() => void)[] = [];
  let destroyed = false;
  api
    .labels()
    .then(start)
    .catch((err) => showError(element, err));

  function start(labels: Labels) {
    if (!labels.views.length || !labels.keypoints.length) {
      element.replaceChildren(h("h1", { text: "Label" }), h("p", { text: "This project has no views and keypoints yet: create it on the Project page." }));
      return;
    }
    if (!labels.frames.length) {
      element.replaceChildren(h("h1", { text: "Label" }), h("p", {}, "No frames to label yet: ", h("a", { href: "#/frames", text: "extract some" }), "."));
      return;
    }
    const views = labels.views;
    const keypoints = labels.keypoints;
    const colors = keypointColors(keypoints.length);
    const bones = labels.skeleton
      .map(([a, b]) => [keypoints.indexOf(a), keypoints.indexOf(b)] as [number, number])
      .filter(([a, b]) => a >= 0 && b >= 0);
    let frames = labels.frames;
    let frame: LabelFrame | null = null;
    let label = new LabelState(views, keypoints);
    let selected = keypoints[0];
    let active = views[0];
    let main = views[0];
    let layout: "grid" | "focus" = "grid";
    let guide: Guide | null = null;
    let showContext = false;
    let busy = false;
    const tone = { brightness: 1, contrast: 1 };
    const scene = (): LabelScene => ({ label, selected, keypoints, colors, bones, guide, ...tone });

    // --- the page's parts -------------------------------------------------------------------------
    const title = h("span", { class: "frame-title", "data-testid": "label-frame" });
    const status = h("span", { class: "hint", "data-testid": "label-status" });
    const message = h("div", { class: "status", "data-testid": "label-message" });
    const button = (text: string, titleText: string, testid: string, action: () => void) => {
      const b = h("button", { type: "button", title: titleText, "data-testid": testid, text });
      b.onclick = action;
      return b;
    };
    const prev = button("◀ previous", "previous frame (P); saves first", "label-prev", () => go(-1));
    const next = button("next ▶", "next frame (N); saves first", "label-next", () => go(1));
    const save = button("Save", "save into the label files (Ctrl+S)", "label-save", () => void saveFrame());
    const undo = button("↶", "undo (Ctrl+Z)", "label-undo", () => label.undo() && changed());
    const redo = button("↷", "redo (Ctrl+Y)", "label-redo", () => label.redo() && changed());
    const layoutButton = button("one large", "one view large, the others small (G)", "label-layout", () => toggleLayout());
    const contextButton = button("context", "frames before and after (C)", "label-context", () => toggleContext());
    const confirm = button("accept pre-filled", "the pre-filled positions are right (A)", "label-confirm", () => label.confirmPrefill() && changed());
    const slider = (name: string, key: "brightness" | "contrast") => {
      const input = h("input", { type: "range", min: 0.3, max: 3, step: 0.05, value: 1, title: name, "data-testid": `label-${key}` });
      input.oninput = () => {
        tone[key] = Number(input.value);
        drawAll();
      };
      return h("label", { class: "tone" }, `${name} `, input);
    };
    const toolbar = h("div", { class: "label-toolbar" }, prev, next, title, undo, redo, save, status, layoutButton, contextButton, confirm, slider("brightness", "brightness"), slider("contrast", "contrast"));
    const keypointList = h("ol", { class: "keypoint-list", "data-testid": "keypoint-list" });
    const frameList = h("ul", { class: "frame-list", "data-testid": "frame-list" });
    const stage = h("div", { class: "label-stage grid", "data-testid": "label-stage" });
    const context = h("div", { class: "label-context", "data-testid": "label-context", hidden: true });
    const help = h("p", {
      class: "hint",
      text:
        "Click: place the chosen keypoint (the next one is chosen) · drag a point to move it (Shift+drag while the chosen one is still to place) · wheel: zoom · right-drag or space+drag: pan · 0: fit · " +
        "1–9 / Tab / Shift+Tab: choose a keypoint · T: accept its triangulation in this view · Shift+T: accept every suggestion in this view · " +
        "X: not visible · Delete: remove · A: accept pre-filled · Ctrl+Z / Ctrl+Y: undo / redo · Ctrl+S: save · N / P: next / previous frame · G: layout · C: context",
    });
    element.replaceChildren(
      h("h1", { text: "Label" }),
      toolbar,
      message,
      h("div", { class: "label-main" }, h("aside", { class: "label-side" }, h("h3", { text: "Keypoints" }), keypointList, h("h3", { text: "Frames" }), frameList), h("div", { class: "label-center" }, stage, context)),
      help,
    );

    const handles: LabelViewHandle[] = views.map((view) =>
      LabelView(view, [640, 480], scene, {
        placed(v, k) {
          selected = label.nextKeypoint(v, k) ?? k;
          changed();
        },
        moved: () => changed(),
        entered(v) {
          active = v;
          if (showContext) drawContext();
        },
        picked(k) {
          selected = k;
          renderKeypoints();
        },
      }),
    );
    cleanups.push(...handles.map((v) => v.destroy));
    const handle = (view: string) => handles[views.indexOf(view)];

    function arrange() {
      stage.className = `label-stage ${layout}`;
      const width = Math.max(stage.clientWidth, 600);
      const [w0, h0] = handles[0].imageSize;
      const aspect = h0 / w0;
      if (layout === "grid") {
        const columns = Math.min(views.length, width >= 1100 ? 3 : 2);
        const w = Math.floor((width - 12 * (columns - 1)) / columns);
        stage.replaceChildren(...handles.map((v) => v.element));
        handles.forEach((v) => v.resize(w, Math.min(w * aspect, 700)));
      } else {
        const big = handle(main);
        const side = h("div", { class: "thumbs" }, ...handles.filter((v) => v !== big).map((v) => v.element));
        stage.replaceChildren(big.element, side);
        const wBig = Math.floor(width * 0.72);
        big.resize(wBig, Math.min(wBig * aspect, 760));
        const wSmall = Math.floor(width * 0.26);
        handles.filter((v) => v !== big).forEach((v) => v.resize(wSmall, wSmall * aspect));
      }
    }

    function drawAll() {
      handles.forEach((v) => v.draw());
    }

    function renderKeypoints() {
      keypointList.replaceChildren(
        ...keypoints.map((k, i) => {
          const marks = views.map((v) => {
            const m = label.get(v, k);
            return m === undefined ? "·" : m === "hidden" ? "∅" : m.origin === "prefill" ? "○" : "●";
          });
          const errors = views.map((v) => guide?.errors?.[v]?.[k]).filter((e): e is number => e !== undefined);
          const worst = errors.length ? Math.max(...errors) : null;
          const item = h(
            "li",
            { class: k === selected ? "selected" : "", "data-keypoint": k, title: `${k}: ${views.map((v, j) => `${v} ${marks[j]}`).join(", ")}` },
            h("i", { class: "dot", style: `background:${colors[i]}` }),
            h("span", { class: "num", text: i < 9 ? String(i + 1) : "" }),
            h("span", { class: "name", text: k }),
            h("span", { class: "marks", text: marks.join("") }),
            worst === null ? "" : h("span", { class: "err", style: `color:${errorColor(worst)}`, text: `${worst.toFixed(1)}px` }),
          );
          item.onclick = () => choose(k);
          return item;
        }),
      );
    }

    function renderFrames() {
      frameList.replaceChildren(
        ...frames.map((f) => {
          const state = f.has_draft ? "draft" : f.row !== null ? "labeled" : "queued";
          const detail = f.row !== null ? `${f.n_points} points` : f.method ? `${f.method}${f.score !== null && f.score !== undefined ? ` ${f.score.toPrecision(3)}` : ""}` : "to label";
          const item = h("li", { class: `${state}${frame?.id === f.id ? " current" : ""}`, "data-frame": f.id, "data-state": state }, h("span", { text: frameName(f) }), h("span", { class: "hint", text: ` ${detail}` }));
          item.onclick = () => void open(f.id);
          return item;
        }),
      );
      frameList.querySelector(".current")?.scrollIntoView({ block: "nearest" });
    }

    function choose(k: string) {
      selected = k;
      renderKeypoints();
      requestGuide();
      drawAll();
    }

    // --- changes, drafts, the cameras' guide --------------------------------------------------------
    let draftTimer = 0;
    let guideTimer = 0;
    let guideRequest = 0; // the latest guide request: an older answer that arrives later is dropped
    function changed() {
      renderKeypoints();
      drawAll();
      updateStatus();
      requestGuide();
      if (!frame) return;
      const id = frame.id;
      const draft = label.toDraft();
      try {
        localStorage.setItem(localKey(id), JSON.stringify(draft));
      } catch {
        /* storage full or off: the server keeps it */
      }
      clearTimeout(draftTimer);
      draftTimer = window.setTimeout(() => {
        if (!label.dirty || frame?.id !== id) return;
        api
          .saveDraft(id, draft as unknown as Record<string, unknown>)
          .then(() => updateStatus("draft kept"))
          .catch(() => updateStatus("draft kept in this browser (the server did not answer)"));
      }, 400);
    }

    function updateStatus(extra = "") {
      const prefilled = label.count("prefill");
      const parts = [label.dirty ? "unsaved changes" : "saved", `${label.count()} placed`, label.count("hidden") ? `${label.count("hidden")} not visible` : "", prefilled ? `${prefilled} pre-filled to check` : "", extra];
      status.textContent = ` ${parts.filter(Boolean).join(" · ")}`;
      status.dataset.dirty = String(label.dirty);
      undo.disabled = !label.canUndo;
      redo.disabled = !label.canRedo;
      confirm.hidden = !prefilled;
    }

    function requestGuide() {
      if (!frame?.calibrated) return;
      const id = frame.id;
      const request = ++guideRequest;
      element.dataset.guideWanted = String(request);
      clearTimeout(guideTimer);
      guideTimer = window.setTimeout(async () => {
        try {
          const found = await api.guide(id, label.points(), selected);
          if (frame?.id !== id || request !== guideRequest) return;
          guide = found;
          element.dataset.guided = String(request); // equal to guideWanted: the guide shows every change
          renderKeypoints();
          drawAll();
        } catch (err) {
          showError(message, err);
        }
      }, 40);
    }

    // --- frames --------------------------------------------------------------------------------------
    async function open(id: string) {
      if (busy || (frame && frame.id === id)) return;
      if (frame && label.dirty && !(await saveFrame())) return;
      busy = true;
      message.replaceChildren();
      try {
        const loaded = await api.labelFrame(id);
        const images = await Promise.all(views.map((v) => loadImage(api.labelImageUrl(id, v))));
        if (destroyed) return;
        frame = loaded;
        guide = null;
        const saved = marksFromPoints(loaded.points as Record<string, Record<string, XY | null>>, "saved");
        const hasSaved = Object.values(saved).some((byKeypoint) => Object.keys(byKeypoint).length);
        let marks: Marks = hasSaved || !loaded.prefill ? saved : marksFromPoints(loaded.prefill as Record<string, Record<string, XY | null>>, "prefill");
        let local = null;
        try {
          local = readDraft(JSON.parse(localStorage.getItem(localKey(id)) ?? "null"));
        } catch {
          local = null;
        }
        const draft = newerDraft(readDraft(loaded.draft), local);
        label = new LabelState(views, keypoints, draft ? draft.marks : marks);
        if (draft) {
          label.dirty = true;
          const discard = h("button", { text: "Discard them", "data-testid": "label-discard" });
          discard.onclick = async () => {
            localStorage.removeItem(localKey(id));
            await api.deleteDraft(id);
            marks = hasSaved || !loaded.prefill ? saved : marksFromPoints(loaded.prefill as Record<string, Record<string, XY | null>>, "prefill");
            label = new LabelState(views, keypoints, marks);
            message.replaceChildren();
            changed();
            label.dirty = false;
            updateStatus();
          };
          message.replaceChildren(h("p", { class: "notice", "data-testid": "label-restored" }, `Restored the unsaved changes of ${new Date(draft.updated).toLocaleTimeString()}. `, discard));
        } else if (!hasSaved && loaded.prefill) {
          message.replaceChildren(h("p", { class: "notice", "data-testid": "label-prefilled" }, `Pre-filled with ${loaded.prefill_source ?? "a model's result"} (hollow circles): drag what is wrong, then save.`));
        }
        handles.forEach((v, i) => {
          const size = loaded.image_sizes[views[i]] ?? [640, 480];
          v.setImage(images[i], [size[0], size[1]]);
        });
        selected = keypoints.find((k) => label.get(active, k) === undefined) ?? keypoints[0];
        const summary = frames.find((f) => f.id === id);
        title.textContent = ` ${summary ? frameName(summary) : id} (${frames.findIndex((f) => f.id === id) + 1} of ${frames.length})${loaded.calibrated ? "" : " · no calibration: no suggestions"} `;
        element.dataset.frame = id;
        history.replaceState(null, "", `#/label?frame=${encodeURIComponent(id)}`);
        arrange();
        renderKeypoints();
        renderFrames();
        updateStatus();
        requestGuide();
        if (showContext) drawContext();
      } catch (err) {
        showError(message, err);
      } finally {
        busy = false;
      }
    }

    async function saveFrame(): Promise<boolean> {
      if (!frame) return false;
      const id = frame.id;
      try {
        const saved = await api.saveLabels(id, label.points());
        label.dirty = false;
        localStorage.removeItem(localKey(id));
        frames = frames.map((f) => (f.id === id ? saved : f));
        element.dataset.saved = id;
        renderFrames();
        updateStatus("saved into the label files");
        return true;
      } catch (err) {
        showError(message, err);
        return false;
      }
    }

    async function go(delta: number) {
      if (!frame) return;
      const i = frames.findIndex((f) => f.id === frame!.id);
      const target = frames[i + delta];
      if (target) await open(target.id);
    }

    function toggleLayout() {
      layout = layout === "grid" ? "focus" : "grid";
      if (layout === "focus") main = active;
      layoutButton.textContent = layout === "grid" ? "one large" : "side by side";
      arrange();
    }

    function toggleContext() {
      showContext = !showContext;
      context.hidden = !showContext;
      if (showContext) drawContext();
    }

    function drawContext() {
      if (!frame || frame.session_id === null || frame.frame === null) {
        context.replaceChildren(h("p", { class: "hint", text: "No video of this frame's session: no temporal context." }));
        return;
      }
      const f0 = frame.frame;
      const items = [];
      for (let f = f0 - CONTEXT; f <= f0 + CONTEXT; f++) {
        if (f < 0 || f >= frame.n_frames) continue;
        items.push(h("figure", { class: f === f0 ? "current" : "" }, h("img", { src: api.videoUrl(frame.session_id, active, f), alt: `frame ${f}` }), h("figcaption", { text: `${f - f0 > 0 ? "+" : ""}${f - f0}` })));
      }
      context.replaceChildren(h("span", { class: "hint", text: `${active}, frames ${f0 - CONTEXT}…${f0 + CONTEXT}` }), ...items);
    }

    // --- keyboard ----------------------------------------------------------------------------------------
    const keys = (e: KeyboardEvent) => {
      if (e.target instanceof HTMLInputElement && e.target.type !== "range") return;
      if (e.target instanceof HTMLTextAreaElement || e.target instanceof HTMLSelectElement) return;
      const ctrl = e.ctrlKey || e.metaKey;
      const key = e.key;
      const current = handle(active);
      if (ctrl && key.toLowerCase() === "s") void saveFrame();
      else if (ctrl && key.toLowerCase() === "z" && !e.shiftKey) label.undo() && changed();
      else if (ctrl && (key.toLowerCase() === "y" || (key.toLowerCase() === "z" && e.shiftKey))) label.redo() && changed();
      else if (ctrl) return;
      else if (/^[1-9]$/.test(key) && Number(key) <= keypoints.length) choose(keypoints[Number(key) - 1]);
      else if (key === "Tab") choose(keypoints[(keypoints.indexOf(selected) + (e.shiftKey ? keypoints.length - 1 : 1)) % keypoints.length]);
      else if (key === "t" || key === "T") {
        const suggestions = guide?.suggested?.[active] ?? {};
        const chosen = e.shiftKey ? suggestions : selected in suggestions ? { [selected]: suggestions[selected] } : {};
        if (label.accept(active, chosen as Record<string, XY>)) {
          if (!e.shiftKey) selected = label.nextKeypoint(active, selected) ?? selected;
          changed();
        }
      } else if (key === "x" || key === "X") {
        label.toggleHidden(active, selected);
        if (label.get(active, selected) === "hidden") selected = label.nextKeypoint(active, selected) ?? selected;
        changed();
      } else if (key === "Delete" || key === "Backspace") {
        label.clear(active, selected);
        changed();
      } else if (key === "a" || key === "A") label.confirmPrefill() && changed();
      else if (key === "n" || key === "N") void go(1);
      else if (key === "p" || key === "P") void go(-1);
      else if (key === "g" || key === "G") toggleLayout();
      else if (key === "c" || key === "C") toggleContext();
      else if (key === "+" || key === "=") current.zoom(1.5);
      else if (key === "-") current.zoom(1 / 1.5);
      else if (key === "0") current.resetZoom();
      else return;
      e.preventDefault();
    };
    window.addEventListener("keydown", keys);
    const resize = () => arrange();
    window.addEventListener("resize", resize);
    const leave = (e: BeforeUnloadEvent) => {
      if (label.dirty) e.preventDefault();
    };
    window.addEventListener("beforeunload", leave);
    cleanups.push(
      () => window.removeEventListener("keydown", keys),
      () => window.removeEventListener("resize", resize),
      () => window.removeEventListener("beforeunload", leave),
    );

    const first = (startId && frames.find((f) => f.id === startId)) || frames.find((f) => f.row === null) || frames[0];
    renderFrames();
    void open(first.id);
  }

  return {
    element,
    destroy() {
      destroyed = true;
      cleanups.forEach((c) => c());
    },
  };
}
