/** Smoothing: choose a session's predictions, a calibration and the options; run it as a job with
 * progress; open the result in the viewer. */
import { api, type Project } from "../api/client";
import { JobList, openInViewer } from "../components/JobList";
import { actionForm, h, showError, type Page } from "../lib/dom";

export function SmoothingPage(): Page {
  const element = h("section", { class: "smoothing", "data-testid": "smoothing-page" }, h("p", { text: "Loading…" }));
  const jobs = JobList({ kinds: ["smooth"], actions: openInViewer });
  api
    .project()
    .then((p) => render(p))
    .catch((err) => showError(element, err));

  function render(project: Project) {
    const inputs = [
      ...project.sources.filter((s) => s.has_members).map((s) => ({ id: s.id, label: `${s.label} · session ${s.session}`, session: s.session })),
      ...project.prediction_folders.map((f) => ({ id: f.id, label: `${f.label} (${f.n_files} prediction files)`, session: "" })),
    ];
    const input = h("select", { name: "input", "data-testid": "smooth-input" }, ...inputs.map((i) => h("option", { value: i.id, text: i.label })));
    const calibration = h(
      "select",
      { name: "calibration", "data-testid": "smooth-calibration" },
      h("option", { value: "", text: "none (multi-view linear / single view)" }),
      ...project.calibrations.map((c, i) => h("option", { value: c.id, text: `${c.label} (${c.views.join(", ")})`, selected: i === 0 })),
    );
    const name = h("input", { name: "name", value: `eks-${new Date().toISOString().slice(0, 19).replace(/[-:T]/g, "")}`, "data-testid": "smooth-name" });
    const ensemble = h("select", { name: "ensemble" }, h("option", { value: "median", text: "median" }), h("option", { value: "mean", text: "mean" }));
    const variance = h("select", { name: "variance" }, h("option", { value: "var", text: "variance" }), h("option", { value: "confidence-weighted", text: "confidence-weighted" }));
    const s = h("input", { name: "s", placeholder: "automatic", size: 8, "data-testid": "smooth-s" });
    const sFrames = h("input", { name: "s_frames", placeholder: "all frames, e.g. 0:2000", size: 16 });
    const inflate = h("select", { name: "inflate" }, h("option", { value: "", text: "default (on for several views)" }), h("option", { value: "true", text: "on" }), h("option", { value: "false", text: "off" }));
    const motion = h(
      "select",
      { name: "motion", "data-testid": "smooth-motion" },
      h("option", { value: "auto", text: "automatic (per keypoint)" }),
      h("option", { value: "random walk", text: "random walk" }),
      h("option", { value: "constant velocity", text: "constant velocity (smoother motion)" }),
    );
    const overwrite = h("input", { type: "checkbox", name: "overwrite" });
    const start = h("button", { type: "submit", "data-testid": "smooth-start", text: "Smooth" });
    const message = h("div", { class: "status", "data-testid": "smooth-message" });
    const form = actionForm(
      [
        h("label", {}, "Predictions ", input),
        h("label", {}, "Calibration ", calibration),
        h("label", {}, "Output name ", name, h("span", { class: "hint", text: " → lp3d-app/smoothed/<name>/" })),
        h("label", {}, "Ensemble centre ", ensemble),
        h("label", {}, "Ensemble variance ", variance),
        h("label", {}, "Smoothing parameter s ", s),
        h("label", {}, "Frames to choose s ", sFrames),
        h("label", {}, "Variance inflation ", inflate),
        h("label", {}, "Motion ", motion),
        h("label", {}, overwrite, " replace an existing output"),
        start,
      ],
      message,
      async () => {
        const sValue = s.value.trim();
        const job = await api.smooth({
          input: input.value,
          calibration: calibration.value || null,
          name: name.value.trim(),
          ensemble: ensemble.value as "median" | "mean",
          variance: variance.value as "var" | "confidence-weighted",
          s: sValue ? Number(sValue) : null,
          s_frames: sFrames.value.trim() || null,
          inflate: inflate.value === "" ? null : inflate.value === "true",
          motion: motion.value as "auto" | "random walk" | "constant velocity",
          overwrite: overwrite.checked,
        });
        jobs.follow(job);
      },
    );

    element.replaceChildren(h("h1", { text: "Smoothing" }), inputs.length ? form : h("p", { text: "No predictions in this project to smooth." }), h("h2", { text: "Jobs" }), jobs.element);
    jobs.refresh();
  }

  return {
    element,
    destroy() {
      jobs.destroy();
    },
  };
}
