/** The project: views, keypoints, skeleton (a bone editor), sessions with their videos, calibrations, runs,
 * results and problems; a session's videos and calibration uploaded (videos that do not seek
 * frame-accurately converted once, with a progress bar). In a folder without a project: create one. */
import { api, type Job, type Project } from "../api/client";
import { BoneEditor, type Bone } from "../components/BoneEditor";
import { JobList } from "../components/JobList";
import { actionForm, h, showError, type Page } from "../lib/dom";

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** Names typed in a box: separated by commas or line breaks, blanks dropped. */
export function splitNames(text: string): string[] {
  return text
    .split(/[,\n]/)
    .map((s) => s.trim())
    .filter(Boolean);
}

export function ProjectPage(): Page {
  const element = h("section", { class: "project", "data-testid": "project-page" }, h("p", { text: "Loading the project…" }));
  const jobs = JobList({ kinds: ["video"], changed: videoChanged });
  let waiting = false;
  load();

  function load() {
    api
      .project()
      .then(render)
      .catch((err) => showError(element, err));
  }

  function videoChanged(job: Job) {
    if (job.state !== "running" && waiting) {
      const running = element.querySelectorAll('[data-kind="video"][data-state="running"]').length;
      if (!running) {
        waiting = false;
        api.refresh().then(render);
      }
    }
  }

  function render(p: Project) {
    if (!p.views.length && !p.config) {
      element.replaceChildren(createForm(p));
      return;
    }
    const list = (items: string[]) => (items.length ? items.join(", ") : "—");
    const warnings = (name: string) => p.problems.filter((x) => x.message.startsWith(`session ${name}:`)).map((x) => x.message.slice(`session ${name}: `.length));
    const sessions = h(
      "table",
      { "data-testid": "sessions" },
      h("tr", {}, ...["session", "frames", "videos", "labeled", "calibration", "results", "", ""].map((t) => h("th", { text: t }))),
      ...p.sessions.map((s) =>
        h(
          "tr",
          { "data-session": s.name },
          h("td", { text: s.name }),
          h("td", { text: s.n_frames }),
          h("td", { text: list(s.views) }),
          h("td", { text: s.n_labeled }),
          h("td", { text: p.calibrations.find((c) => c.id === s.calibration)?.label ?? "none" }),
          h("td", { text: s.sources.length }),
          h("td", { class: "warn", "data-testid": `warnings-${s.id}`, text: warnings(s.name).join("; ") }),
          h("td", {}, h("a", { href: `#/viewer/${encodeURIComponent(s.id)}`, class: "button", "data-testid": `open-${s.id}`, text: "Open in viewer" })),
        ),
      ),
    );
    const none = (text: string) => h("p", { class: "hint", text });
    const sources = !p.sources.length
      ? none("None yet: predict and smooth a session (Models page), or smooth predictions (Smoothing page).")
      : h(
          "table",
          { "data-testid": "sources" },
          h("tr", {}, h("th", { text: "results" }), h("th", { text: "session" }), h("th", { text: "smoother" }), h("th", { text: "members" }), h("th", { text: "frames" })),
          ...p.sources.map((s) => h("tr", {}, h("td", { text: s.label }), h("td", { text: s.session }), h("td", { text: s.smoother ?? "—" }), h("td", { text: list(s.members) }), h("td", { text: s.n_frames }))),
        );
    const runs = !p.runs.length
      ? none("None yet: train one on the Models page.")
      : h("ul", {}, ...p.runs.map((r) => h("li", { text: `${r.name}: members ${list(r.members)} (trained: ${list(r.trained)})` })));
    const calibrations = !p.calibrations.length
      ? none("None: add one with a session (an anipose calibration.toml).")
      : h("ul", {}, ...p.calibrations.map((c) => h("li", { text: `${c.label} (${list(c.views)})` })));
    const problems = p.problems.length
      ? h("ul", { class: "problems", "data-testid": "problems" }, ...p.problems.map((x) => h("li", { text: `${x.where}: ${x.message}` })))
      : h("p", { text: "No problems found." });
    const refresh = h("button", { class: "title-action", text: "Look again" });
    refresh.onclick = () => api.refresh().then(render);
    const editor = BoneEditor(p.keypoints, p.skeleton as Bone[]);
    const saveBones = h("button", { "data-testid": "skeleton-save", text: "Save the skeleton" });
    const bonesMessage = h("span", { class: "hint" });
    saveBones.onclick = () =>
      api
        .setSkeleton(editor.bones)
        .then((q) => (bonesMessage.textContent = ` saved: ${q.skeleton.length} bones`))
        .catch((err) => showError(bonesMessage, err));
    element.replaceChildren(
      h("h1", { text: `Project ${p.name}` }, refresh),
      h(
        "dl",
        {},
        h("dt", { text: "config" }), h("dd", { text: p.config ?? "none" }),
        h("dt", { text: "data" }), h("dd", { text: p.data_root ?? "none" }),
        h("dt", { text: "runs folder" }), h("dd", { text: p.run_dir ?? "none" }),
        h("dt", { text: "views" }), h("dd", { text: list(p.views) }),
        h("dt", { text: "keypoints" }), h("dd", { text: list(p.keypoints) }),
        h("dt", { text: "labeled frames" }), h("dd", { text: p.n_labeled }),
      ),
      h("h2", { text: "Sessions" }), sessions,
      p.data_root && p.views.length ? sessionForm(p) : "",
      h("h2", { text: "Skeleton" }), editor.element, saveBones, bonesMessage,
      h("h2", { text: "Results" }), sources,
      h("h2", { text: "Calibrations" }), calibrations,
      h("h2", { text: "Training runs" }), runs,
      h("h2", { text: "Problems" }), problems,
    );
    jobs.refresh();
  }

  function createForm(p: Project): HTMLElement {
    const name = h("input", { name: "name", value: p.name.replace(/[^A-Za-z0-9_.-]/g, "-") || "project", "data-testid": "create-name" });
    const views = h("input", { name: "views", placeholder: "top, side, front", size: 40, "data-testid": "create-views" });
    const keypoints = h("textarea", { name: "keypoints", rows: 6, cols: 40, placeholder: "nose\near_left\near_right\n…", "data-testid": "create-keypoints" });
    const editor = BoneEditor([], []);
    keypoints.oninput = () => editor.setKeypoints(splitNames(keypoints.value));
    const create = h("button", { type: "submit", "data-testid": "create-project", text: "Create the project" });
    const message = h("div", { "data-testid": "create-message" });
    const form = actionForm(
      [
        h("label", {}, "Name ", name),
        h("label", {}, "Views (camera names, as in the calibration) ", views),
        h("label", {}, "Keypoints (one per line, or separated by commas) ", keypoints),
        h("div", {}, h("b", { text: "Skeleton " }), h("span", { class: "hint", text: "(optional: bones drawn between keypoints)" }), editor.element),
        create,
      ],
      message,
      async () => {
        const viewNames = splitNames(views.value);
        const bad = viewNames.find((v) => !NAME.test(v));
        if (bad !== undefined) return showError(message, `view ${JSON.stringify(bad)}: expected letters, digits, '_', '.' or '-'`);
        render(await api.createProject({ name: name.value.trim(), views: viewNames, keypoints: splitNames(keypoints.value), skeleton: editor.bones }));
      },
    );
    return h(
      "div",
      { "data-testid": "create-project-page" },
      h("h1", { text: "Create a project" }),
      h("p", { class: "hint", text: `This folder (${p.name}) holds no project yet. Name its views and keypoints; then add sessions (one video per view, and a calibration).` }),
      form,
    );
  }

  function sessionForm(p: Project): HTMLElement {
    const name = h("input", { name: "session", value: `session${p.sessions.length + 1}`, "data-testid": "session-name" });
    const files = p.views.map((view) => ({
      view,
      input: h("input", { type: "file", accept: "video/*,.mp4,.avi,.mov,.mkv", "data-testid": `video-${view}` }),
      bar: h("progress", { max: 1, value: 0 }),
    }));
    const calibration = h("input", { type: "file", accept: ".toml", "data-testid": "calibration-file" });
    const overwrite = h("input", { type: "checkbox" });
    const upload = h("button", { type: "submit", "data-testid": "upload-session", text: "Upload" });
    const message = h("div", { "data-testid": "upload-message" });
    const form = h(
      "form",
      { class: "form" },
      h("label", {}, "Session name ", name, h("span", { class: "hint", text: " → videos/<session>_<view>.mp4" })),
      ...files.map((f) => h("label", {}, `${f.view} video `, f.input, " ", f.bar)),
      h("label", {}, "Calibration (anipose TOML, pinhole or fisheye; optional) ", calibration),
      h("label", {}, overwrite, " replace the session's videos"),
      upload,
      message,
    );
    form.onsubmit = async (e) => {
      e.preventDefault();
      message.replaceChildren();
      const session = name.value.trim();
      if (!NAME.test(session)) return showError(message, `session ${JSON.stringify(session)}: expected letters, digits, '_', '.' or '-'`);
      upload.disabled = true;
      try {
        const cal = calibration.files?.[0];
        if (cal) await api.uploadCalibration(session, cal);
        for (const f of files) {
          const file = f.input.files?.[0];
          if (!file) continue;
          const job = await api.uploadVideo(
            session,
            f.view,
            file,
            (sent, total) => {
              f.bar.max = total;
              f.bar.value = sent;
            },
            overwrite.checked,
          );
          waiting = true;
          jobs.follow(job);
        }
        message.append(h("p", { class: "hint", text: "Uploaded; each video is checked (and converted when it does not seek frame-accurately) below." }));
        if (!waiting) api.refresh().then(render);
      } catch (err) {
        showError(message, err);
      } finally {
        upload.disabled = false;
      }
    };
    return h("details", { open: !p.sessions.length, class: "add-session" }, h("summary", { text: "Add a session" }), form, h("h3", { text: "Video jobs" }), jobs.element);
  }

  return {
    element,
    destroy() {
      jobs.destroy();
    },
  };
}
