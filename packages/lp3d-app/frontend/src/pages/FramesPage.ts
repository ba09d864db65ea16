/** Frames to label: extract frames of a session (uniform in time; diverse, k-means on downsampled frames or
 * on motion energy; or, once a model's result is smoothed, the frames the smoother found most uncertain or
 * most inconsistent across views, pre-filled with the smoothed positions), then label them. */
import { api, type Job, type Labels, type Project } from "../api/client";
import { JobList } from "../components/JobList";
import { actionForm, h, showError, type Page } from "../lib/dom";

const METHODS: [string, string][] = [
  ["uniform", "uniform in time"],
  ["kmeans", "diverse: k-means on downsampled frames"],
  ["motion", "diverse: k-means on motion energy"],
  ["uncertain", "most uncertain (a smoothed result's posterior variance)"],
  ["inconsistent", "most inconsistent across views (a smoothed result's reprojection error)"],
];

export function FramesPage(): Page {
  const element = h("section", { class: "frames", "data-testid": "frames-page" }, h("p", { text: "Loading…" }));
  const jobs = JobList({ kinds: ["extract"], actions: labelAction, changed: (job) => job.state === "done" && summarize() });
  const summary = h("div", { "data-testid": "frames-summary" });
  api
    .project()
    .then(render)
    .catch((err) => showError(element, err));

  function labelAction(job: Job): Node[] {
    if (job.state !== "done" || !job.result) return [];
    const frames = (job.result.frames as number[]) ?? [];
    const session = String(job.result.session ?? "");
    const open = h("a", { class: "button", href: "#/label", "data-testid": "label-extracted", text: `Label these ${frames.length} frames` });
    open.onclick = async (e) => {
      e.preventDefault();
      const labels = await api.labels();
      const first = labels.frames.find((f) => f.session === session && f.frame === frames[0]);
      location.hash = first ? `#/label?frame=${encodeURIComponent(first.id)}` : "#/label";
    };
    return [open];
  }

  async function summarize() {
    const labels: Labels = await api.labels();
    const sessions = [...new Set(labels.frames.map((f) => f.session))];
    summary.replaceChildren(
      h(
        "table",
        {},
        h("tr", {}, h("th", { text: "session" }), h("th", { text: "labeled" }), h("th", { text: "to label" }), h("th", { text: "pre-filled" })),
        ...sessions.map((s) => {
          const mine = labels.frames.filter((f) => f.session === s);
          return h(
            "tr",
            {},
            h("td", { text: s || "(none)" }),
            h("td", { text: mine.filter((f) => f.row !== null).length }),
            h("td", { text: mine.filter((f) => f.row === null).length }),
            h("td", { text: mine.filter((f) => f.row === null && f.source).length }),
          );
        }),
      ),
    );
  }

  function render(project: Project) {
    const withVideos = project.sessions.filter((s) => project.views.every((v) => s.views.includes(v)));
    if (!withVideos.length) {
      element.replaceChildren(h("h1", { text: "Frames to label" }), h("p", { text: "No session has a video of every view yet: add one on the Project page." }));
      return;
    }
    const session = h("select", { "data-testid": "extract-session" }, ...withVideos.map((s) => h("option", { value: s.id, text: `${s.name} (${s.n_frames} frames)` })));
    const method = h("select", { "data-testid": "extract-method" }, ...METHODS.map(([v, t]) => h("option", { value: v, text: t })));
    const source = h("select", { "data-testid": "extract-source" });
    const n = h("input", { type: "number", min: 1, max: 500, value: 10, "data-testid": "extract-n" });
    const gap = h("input", { type: "number", min: 0, value: 10, "data-testid": "extract-gap", title: "chosen frames at least this many frames apart" });
    const modelOnly = h("div", { class: "form" }, h("label", {}, "Smoothed result ", source), h("label", {}, "At least this many frames apart ", gap));
    const start = h("button", { type: "submit", "data-testid": "extract-start", text: "Extract" });
    const message = h("div", {});
    const note = h("p", { class: "hint" });
    const update = () => {
      const chosen = project.sessions.find((s) => s.id === session.value);
      const smoothed = project.sources.filter((s) => s.has_smoothed && s.session === chosen?.name);
      source.replaceChildren(...smoothed.map((s) => h("option", { value: s.id, text: s.label })));
      const needsModel = method.value === "uncertain" || method.value === "inconsistent";
      modelOnly.hidden = !needsModel;
      note.textContent = needsModel
        ? smoothed.length
          ? "The frames come pre-filled with the smoothed positions: correct them rather than start from nothing."
          : "This session has no smoothed result yet: predict and smooth it (Models page), then come back."
        : method.value === "uniform"
          ? "Evenly spaced frames, skipping those labeled or queued already."
          : "Frames read at a small size (up to 1,000 of them), clustered; the frame nearest each cluster's centre.";
    };
    session.onchange = update;
    method.onchange = update;
    update();
    const form = actionForm(
      [
        h("label", {}, "Session ", session),
        h("label", {}, "Method ", method),
        modelOnly,
        h("label", {}, "Frames ", n),
        note,
        start,
      ],
      message,
      async () => {
        const needsModel = method.value === "uncertain" || method.value === "inconsistent";
        jobs.follow(
          await api.extract({
            session: session.value,
            method: method.value as "uniform",
            n: Number(n.value),
            source: needsModel ? source.value || null : null,
            min_gap: Number(gap.value),
          }),
        );
      },
    );
    element.replaceChildren(
      h("h1", { text: "Frames to label" }),
      form,
      h("h2", { text: "Extractions" }),
      jobs.element,
      h("h2", { text: "Frames" }, " ", h("a", { href: "#/label", class: "button", text: "Open the labeler" })),
      summary,
    );
    jobs.refresh();
    summarize();
  }

  return {
    element,
    destroy() {
      jobs.destroy();
    },
  };
}
