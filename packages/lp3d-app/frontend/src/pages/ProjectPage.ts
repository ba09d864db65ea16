/** The project: views, keypoints, skeleton, sessions with their videos, calibrations, runs, results, problems. */
import { api } from "../api/client";
import { h, showError, type Page } from "../lib/dom";

export function ProjectPage(): Page {
  const element = h("section", { class: "project", "data-testid": "project-page" }, h("p", { text: "Loading the project…" }));
  api
    .project()
    .then((p) => {
      const list = (items: string[]) => (items.length ? items.join(", ") : "—");
      const sessions = h(
        "table",
        { "data-testid": "sessions" },
        h("tr", {}, h("th", { text: "session" }), h("th", { text: "frames" }), h("th", { text: "videos" }), h("th", { text: "labeled" }), h("th", { text: "calibration" }), h("th", { text: "results" }), h("th", { text: "" })),
        ...p.sessions.map((s) =>
          h(
            "tr",
            {},
            h("td", { text: s.name }),
            h("td", { text: s.n_frames }),
            h("td", { text: list(s.views) }),
            h("td", { text: s.n_labeled }),
            h("td", { text: p.calibrations.find((c) => c.id === s.calibration)?.label ?? "none" }),
            h("td", { text: s.sources.length }),
            h("td", {}, h("a", { href: `#/viewer/${encodeURIComponent(s.id)}`, class: "button", "data-testid": `open-${s.id}`, text: "Open in viewer" })),
          ),
        ),
      );
      const sources = h(
        "table",
        { "data-testid": "sources" },
        h("tr", {}, h("th", { text: "results" }), h("th", { text: "session" }), h("th", { text: "smoother" }), h("th", { text: "members" }), h("th", { text: "frames" })),
        ...p.sources.map((s) => h("tr", {}, h("td", { text: s.label }), h("td", { text: s.session }), h("td", { text: s.smoother ?? "—" }), h("td", { text: list(s.members) }), h("td", { text: s.n_frames }))),
      );
      const runs = h("ul", {}, ...p.runs.map((r) => h("li", { text: `${r.name}: members ${list(r.members)} (trained: ${list(r.trained)})` })));
      const problems = p.problems.length
        ? h("ul", { class: "problems", "data-testid": "problems" }, ...p.problems.map((x) => h("li", { text: `${x.where}: ${x.message}` })))
        : h("p", { text: "No problems found." });
      const refresh = h("button", { text: "Look again" });
      refresh.onclick = () => api.refresh().then(() => location.reload());
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
          h("dt", { text: "skeleton" }), h("dd", { text: p.skeleton.map(([a, b]) => `${a}–${b}`).join(", ") || "none" }),
          h("dt", { text: "labeled frames" }), h("dd", { text: p.n_labeled }),
        ),
        h("h2", { text: "Sessions" }), sessions,
        h("h2", { text: "Results" }), sources,
        h("h2", { text: "Calibrations" }), h("ul", {}, ...p.calibrations.map((c) => h("li", { text: `${c.label} (${list(c.views)})` }))),
        h("h2", { text: "Training runs" }), runs,
        h("h2", { text: "Problems" }), problems,
      );
    })
    .catch((err) => showError(element, err));
  return { element, destroy() {} };
}
