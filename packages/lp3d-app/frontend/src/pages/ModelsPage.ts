/** Models: the model form (backbone from the registry, a size it takes, steps, batch, seeds of an ensemble,
 * patch masking, 3D augmentation and the triangulation loss with a calibration, local weights), checked as
 * the trainer checks it and shown as YAML; training jobs with live curves, time left, cancel and resume;
 * every run with its config and metrics; runs compared on their held-out labeled frames; prediction (then
 * smoothing, then the viewer); distillation (the chosen pseudo-labeled frames and their weights, the
 * student trained and compared with its teacher). */
import { api, type Compare, type Distillation, type Job, type ModelForm, type ModelOptions, type Project, type RunDetail } from "../api/client";
import { JobList, openInViewer } from "../components/JobList";
import { MetricsChart } from "../components/MetricsChart";
import { keypointColors } from "../lib/colors";
import { actionForm, h, showError, type Page } from "../lib/dom";

/** Seeds typed as "0, 1, 2" (or "0-3"). */
export function parseSeeds(text: string): number[] | null {
  const out: number[] = [];
  for (const part of text.split(",").map((s) => s.trim()).filter(Boolean)) {
    const range = /^(\d+)\s*-\s*(\d+)$/.exec(part);
    if (range) {
      for (let s = Number(range[1]); s <= Number(range[2]); s++) out.push(s);
    } else if (/^\d+$/.test(part)) out.push(Number(part));
    else return null;
  }
  return out.length && new Set(out).size === out.length ? out : null;
}

export function ModelsPage(): Page {
  const element = h("section", { class: "models", "data-testid": "models-page" }, h("p", { text: "Loading…" }));
  const timers: number[] = [];
  const charts: ReturnType<typeof MetricsChart>[] = [];
  const jobs = JobList({ kinds: ["train", "predict", "evaluate", "distill"], actions: jobActions, changed: jobChanged });
  let project: Project | null = null;
  const runsBox = h("div", { "data-testid": "runs" });
  const compareBox = h("div", { "data-testid": "compare" });
  const distillBox = h("div", { "data-testid": "distillation" });
  const predictBox = h("div", {});
  const distillFormBox = h("div", {});
  let comparing: string[] = [];
  const chosenRuns = new Set<string>(); // the runs ticked for comparison: kept when the runs are drawn again
  const openRuns = new Set<string>(); // the runs whose details are open: kept open when the runs are drawn again
  load();

  function load() {
    Promise.all([api.project(), api.modelOptions()])
      .then(([p, o]) => render(p, o))
      .catch((err) => showError(element, err));
  }

  async function reloadProject() {
    const before = JSON.stringify([project?.runs.map((r) => r.trained), project?.sources.map((s) => s.id)]);
    project = await api.refresh();
    renderRuns();
    if (JSON.stringify([project.runs.map((r) => r.trained), project.sources.map((s) => s.id)]) !== before) renderForms();
  }

  /** The prediction and distillation forms (their choices are the project's trained runs and results). */
  function renderForms() {
    predictBox.replaceChildren(predictForm());
    distillFormBox.replaceChildren(distillForm());
  }

  let live: string | null = null; // the run a running training writes (runs/<name>)
  let looking = 0;
  function jobChanged(job: Job) {
    if (job.kind === "train" && job.state === "running" && live !== job.output) {
      live = job.output;
      findLive();
    } else if (job.kind === "train" && job.state !== "running" && live === job.output) live = null;
    if (job.state === "done" || job.state === "failed") {
      reloadProject();
      if (job.kind === "evaluate" && comparing.length) showComparison(comparing);
      if (job.kind === "distill" && job.result?.run_dir) showDistillation(String(job.result.run_dir).split("/").pop()!);
    }
  }

  /** Shows the running training's curves as soon as its run exists (its run.json comes after the split). */
  function findLive() {
    clearTimeout(looking);
    if (!live) return;
    if (project?.runs.some((r) => r.name === live)) renderRuns();
    else looking = window.setTimeout(() => reloadProject().then(findLive), 2000);
  }

  function jobActions(job: Job): Node[] {
    const out = openInViewer(job);
    if (job.kind === "train" && (job.state === "cancelled" || job.state === "interrupted" || job.state === "failed")) {
      const run = project?.runs.find((r) => r.name === job.output);
      if (run) {
        const resume = h("button", { "data-testid": "job-resume", text: "Resume" });
        resume.onclick = () => api.train({ run: run.id, overwrite: false }).then((j) => jobs.follow(j)).catch((err) => showError(runsBox, err));
        out.push(resume);
      }
    }
    return out;
  }

  function render(p: Project, options: ModelOptions) {
    project = p;
    if (options.message) {
      element.replaceChildren(h("h1", { text: "Models" }), h("p", { class: "error", text: options.message }));
      return;
    }
    element.replaceChildren(
      h("h1", { text: "Models" }),
      h("h2", { text: "Train" }),
      trainForm(p, options),
      h("h2", { text: "Jobs" }),
      jobs.element,
      h("h2", { text: "Runs" }),
      runsBox,
      compareBox,
      h("h2", { text: "Predict and smooth" }),
      predictBox,
      h("h2", { text: "Distill" }),
      distillFormBox,
      distillBox,
    );
    jobs.refresh();
    renderRuns();
    renderForms();
  }

  // --- the model form ----------------------------------------------------------------------------------
  function trainForm(p: Project, options: ModelOptions): HTMLElement {
    const stamp = new Date().toISOString().slice(0, 16).replace(/[-:T]/g, "");
    const name = h("input", { value: `model-${stamp}`, "data-testid": "model-name" });
    const backbone = h("select", { "data-testid": "model-backbone" }, ...options.backbones.map((b) => h("option", { value: b.name, text: `${b.name} (sides a multiple of ${b.multiple})`, selected: b.name === "vit_s16" })));
    const pretrained = h(
      "select",
      { "data-testid": "model-pretrained" },
      ...options.weights.map((w) => h("option", { value: `file:${w.id}`, text: `weights file ${w.label}` })),
      h("option", { value: "true", text: "ImageNet weights (timm download: needs a network)" }),
      h("option", { value: "false", text: "none (random initialization)" }),
    );
    const height = h("input", { type: "number", min: 8, value: 256, "data-testid": "model-height" });
    const width = h("input", { type: "number", min: 8, value: 256, "data-testid": "model-width" });
    const steps = h("input", { type: "number", min: 1, value: 3000, "data-testid": "model-steps" });
    const batch = h("input", { type: "number", min: 1, value: 8, "data-testid": "model-batch" });
    const seeds = h("input", { value: "0, 1, 2", "data-testid": "model-seeds", title: "one ensemble member per seed" });
    const masking = h("input", { type: "number", min: 0, max: 0.9, step: 0.05, value: 0.3, "data-testid": "model-masking" });
    const geometry = h("input", { type: "checkbox", checked: options.calibrated, "data-testid": "model-geometry" });
    const augment3d = h("input", { type: "checkbox", checked: true, "data-testid": "model-augment3d" });
    const triangulation = h("input", { type: "checkbox", checked: true, "data-testid": "model-triangulation" });
    const val = h("input", { type: "number", min: 0, max: 0.9, step: 0.05, value: 0.1, "data-testid": "model-val" });
    const test = h("input", { type: "number", min: 0, max: 0.9, step: 0.05, value: 0.1, "data-testid": "model-test" });
    const extra = h("textarea", { rows: 3, cols: 60, placeholder: "training.lr=0.0005\nloss.kind=kl", "data-testid": "model-extra" });
    const overwrite = h("input", { type: "checkbox", "data-testid": "model-overwrite" });
    const check = h("button", { type: "button", "data-testid": "model-check", text: "Check" });
    const train = h("button", { type: "submit", "data-testid": "model-train", text: "Train" });
    const message = h("div", { "data-testid": "model-message" });
    const yaml = h("pre", { class: "yaml", "data-testid": "model-yaml" });
    const multiple = () => options.backbones.find((b) => b.name === backbone.value)?.multiple ?? 16;
    const propose = () => {
      const found = options.backbones.find((b) => b.name === backbone.value)?.proposed;
      if (found) {
        height.value = String(found[0]);
        width.value = String(found[1]);
      }
      height.step = width.step = String(multiple());
    };
    backbone.onchange = () => {
      propose();
      schedule();
    };
    propose();
    const geometryRow = h("div", { class: "row" }, h("label", {}, geometry, " use the calibrations: "), h("label", {}, augment3d, " 3D augmentation "), h("label", {}, triangulation, " triangulation loss"));
    geometryRow.hidden = !options.calibrated;
    const form = h(
      "form",
      { class: "form model-form" },
      h("label", {}, "Name ", name, h("span", { class: "hint", text: " → runs/<name>/" })),
      h("label", {}, "Backbone ", backbone),
      h("label", {}, "Pretrained weights ", pretrained),
      h("label", {}, "Model input (height × width) ", height, " × ", width, h("span", { class: "hint", text: " each view is scaled to fit, its aspect kept" })),
      h("label", {}, "Steps ", steps, " batch ", batch, " seeds ", seeds),
      h("label", {}, "Patch masking (share of patches hidden, 0: none) ", masking),
      geometryRow,
      h("label", {}, "Held out: validation ", val, " test ", test),
      h("label", {}, "More settings (section.key=value, one per line) ", extra),
      h("label", {}, overwrite, " replace a run of this name (its members and split are removed)"),
      h("div", { class: "row" }, check, " ", train),
      message,
    );
    const formValues = (): ModelForm | null => {
      const seedList = parseSeeds(seeds.value);
      if (!seedList) {
        showError(message, `seeds: expected distinct numbers like 0, 1, 2, but got ${JSON.stringify(seeds.value)}`);
        return null;
      }
      const choice = pretrained.value;
      return {
        name: name.value.trim(),
        backbone: backbone.value,
        pretrained: choice.startsWith("file:") ? choice.slice(5) : choice === "true",
        height: Number(height.value),
        width: Number(width.value),
        steps: Number(steps.value),
        batch_size: Number(batch.value),
        seeds: seedList,
        masking: Number(masking.value),
        geometry: options.calibrated && geometry.checked,
        augment_3d: augment3d.checked,
        triangulation_loss: triangulation.checked,
        val_fraction: Number(val.value),
        test_fraction: Number(test.value),
        extra: extra.value.split("\n").map((s) => s.trim()).filter(Boolean),
      };
    };
    let timer = 0;
    let asked = 0;
    async function checkNow(): Promise<boolean> {
      const values = formValues();
      if (!values) return false;
      const ticket = ++asked;
      message.replaceChildren(h("span", { class: "hint", text: "checking the config and the labeled frames as the trainer will…" }));
      try {
        const found = await api.checkConfig(values);
        if (ticket !== asked) return false;
        yaml.textContent = found.yaml;
        message.replaceChildren(
          h("span", { class: "ok", "data-testid": "model-ok", text: `The trainer takes this config: ${found.run_dir}.` }),
          found.exists ? h("span", { class: "notice", text: " A run of this name exists: training adds these seeds to it, or tick “replace”." }) : "",
        );
        return true;
      } catch (err) {
        if (ticket === asked) {
          showError(message, err);
          yaml.textContent = "";
        }
        return false;
      }
    }
    function schedule() {
      clearTimeout(timer);
      timer = window.setTimeout(checkNow, 700);
    }
    form.oninput = schedule;
    check.onclick = () => void checkNow();
    form.onsubmit = async (e) => {
      e.preventDefault();
      const values = formValues();
      if (!values || !(await checkNow())) return;
      try {
        jobs.follow(await api.train({ form: values, overwrite: overwrite.checked }));
        reloadProject();
      } catch (err) {
        showError(message, err);
      }
    };
    const labeled = h("p", { class: "hint", text: `${p.n_labeled} labeled frames in the project. Every setting not on the form comes from ${p.config ?? "the defaults"}.` });
    return h("div", { class: "train" }, labeled, h("div", { class: "model-columns" }, form, h("details", { open: true }, h("summary", { text: "The config (YAML)" }), yaml)));
  }

  // --- runs ----------------------------------------------------------------------------------------------
  /** Compares runs on their held-out frames, evaluating those not evaluated yet first (the comparison
   * shows when that job is done). */
  async function compareRuns(ids: string[], p: Project) {
    comparing = ids;
    const found = await api.compare(ids);
    const missing = p.runs.filter((r) => ids.includes(r.id) && found.missing.includes(r.name)).map((r) => r.id);
    if (missing.length) {
      compareBox.replaceChildren(h("p", { class: "hint", text: `Evaluating ${missing.length} run(s) on their held-out frames first…` }));
      jobs.follow(await api.evaluate(missing));
    } else showComparison(ids, found);
  }

  function renderRuns() {
    if (!project) return;
    charts.splice(0).forEach((c) => c.destroy());
    timers.splice(0).forEach((t) => clearInterval(t));
    if (!project.runs.length) {
      runsBox.replaceChildren(h("p", { class: "hint", text: "No runs yet." }));
      return;
    }
    const compareButton = h("button", { "data-testid": "compare-runs", text: "Compare the chosen runs on their held-out frames" });
    const boxes = project.runs.map((r) => {
      const box = h("input", { type: "checkbox", value: r.id, checked: chosenRuns.has(r.id), "data-testid": `compare-${r.name}` });
      box.onchange = () => (box.checked ? chosenRuns.add(r.id) : chosenRuns.delete(r.id));
      return box;
    });
    compareButton.onclick = () => {
      const chosen = boxes.filter((b) => b.checked).map((b) => b.value);
      if (chosen.length) compareRuns(chosen, project!).catch((err) => showError(compareBox, err));
    };
    const table = h(
      "table",
      { class: "runs" },
      h("tr", {}, ...["", "run", "members (trained)", "best validation error", "", ""].map((t) => h("th", { text: t }))),
      ...project.runs.map((r, i) => {
        const detail = h("td", { colspan: 6 });
        const detailRow = h("tr", { class: "run-detail", hidden: true, "data-testid": `run-detail-${r.name}` }, detail);
        const best = h("td", { class: "num" });
        const show = h("button", { "data-testid": `run-details-${r.name}`, text: "Details" });
        const resume = h("button", { title: "continue every member from its last checkpoint", text: "Resume" });
        resume.onclick = () => api.train({ run: r.id, overwrite: false }).then((j) => jobs.follow(j)).catch((err) => showError(detail, err));
        const chart = MetricsChart();
        charts.push(chart);
        async function refreshDetail(open = true) {
          const run: RunDetail = await api.run(r.id);
          best.textContent = Object.entries(run.best_val_error).map(([m, e]) => `${m}: ${e === null ? "—" : `${e.toFixed(2)} px`}`).join(", ");
          if (!open) return;
          chart.show(run, Math.min(520, Math.max(360, (runsBox.clientWidth - 40) / 2)));
          detail.replaceChildren(
            h("div", { class: "run-columns" }, chart.element, h("details", {}, h("summary", { text: "config.yaml" }), h("pre", { class: "yaml", text: run.config }))),
            run.student_of ? h("p", { class: "hint", text: `A student distilled from ${run.student_of}.` }) : "",
          );
        }
        show.onclick = () => {
          detailRow.hidden = !detailRow.hidden;
          if (detailRow.hidden) openRuns.delete(r.id);
          else {
            openRuns.add(r.id);
            refreshDetail().catch((err) => showError(detail, err));
          }
        };
        if (r.name === live) openRuns.add(r.id); // a running training's curves are shown as they come
        detailRow.hidden = !openRuns.has(r.id);
        refreshDetail(!detailRow.hidden).catch((err) => showError(detail, err));
        if (r.name === live) timers.push(window.setInterval(() => refreshDetail().catch(() => {}), 3000));
        return [
          h("tr", { "data-run": r.name }, h("td", {}, boxes[i]), h("td", { text: r.name }), h("td", { text: `${r.members.join(", ")} (${r.trained.length})` }), best, h("td", {}, show), h("td", {}, resume)),
          detailRow,
        ];
      }).flat(),
    );
    runsBox.replaceChildren(table, compareButton);
  }

  async function showComparison(runIds: string[], found?: Compare) {
    const data = found ?? (await api.compare(runIds));
    if (!data.runs.length) {
      compareBox.replaceChildren(h("p", { class: "hint", text: "No evaluation yet." }));
      return;
    }
    const rows = new Map<string, { view: string; keypoint: string }>();
    for (const run of data.runs) for (const r of run.rows) if (r.model === "ensemble") rows.set(`${r.keypoint}|${r.view}`, { view: r.view, keypoint: r.keypoint });
    const ordered = [...rows.values()].sort((a, b) => Number(a.keypoint === "all") - Number(b.keypoint === "all") || a.keypoint.localeCompare(b.keypoint) || Number(a.view === "all") - Number(b.view === "all") || a.view.localeCompare(b.view));
    const value = (run: Compare["runs"][number], view: string, keypoint: string) => run.rows.find((r) => r.model === "ensemble" && r.view === view && r.keypoint === keypoint)?.mean ?? null;
    const sameFrames = new Set(data.runs.map((r) => r.frames_key)).size === 1;
    compareBox.replaceChildren(
      h("h3", { text: "Pixel error of each run's ensemble on held-out labeled frames (mean, px; lowest in bold)" }),
      h("p", { class: sameFrames ? "hint" : "notice", text: sameFrames ? `Every run was scored on the same ${data.runs[0].n_frames} ${data.runs[0].part} frames.` : `The runs hold out different frames (${data.runs.map((r) => `${r.run}: ${r.n_frames} ${r.part}`).join(", ")}): compare with care.` }),
      h(
        "table",
        { class: "stats", "data-testid": "compare-table" },
        h("tr", {}, h("th", { text: "keypoint" }), h("th", { text: "view" }), ...data.runs.map((r) => h("th", { text: r.run }))),
        ...ordered.map(({ view, keypoint }) => {
          const values = data.runs.map((r) => value(r, view, keypoint));
          const finite = values.filter((v): v is number => v !== null);
          const best = finite.length ? Math.min(...finite) : null;
          return h(
            "tr",
            { class: keypoint === "all" && view === "all" ? "total" : "" },
            h("td", { text: keypoint }),
            h("td", { text: view }),
            ...values.map((v) => h("td", { class: `num${v !== null && v === best && data.runs.length > 1 ? " best" : ""}`, text: v === null ? "—" : v.toFixed(2) })),
          );
        }),
      ),
    );
  }

  // --- prediction -----------------------------------------------------------------------------------------
  function predictForm(): HTMLElement {
    const p = project!;
    const trained = p.runs.filter((r) => r.trained.length);
    if (!trained.length) return h("p", { class: "hint", text: "Train a run first." });
    const run = h("select", { "data-testid": "predict-run" }, ...trained.map((r) => h("option", { value: r.id, text: `${r.name} (${r.trained.length} members)` })));
    const sessions = p.sessions.filter((s) => s.views.length).map((s) => ({ s, box: h("input", { type: "checkbox", value: s.id, checked: true, "data-testid": `predict-session-${s.name}` }) }));
    const smooth = h("input", { type: "checkbox", checked: true, "data-testid": "predict-smooth" });
    const start = h("button", { type: "submit", "data-testid": "predict-start", text: "Predict" });
    const message = h("div", {});
    const form = actionForm(
      [
        h("label", {}, "Run ", run),
        h("div", {}, "Sessions: ", ...sessions.map(({ s, box }) => h("label", { class: "inline" }, box, ` ${s.name} `))),
        h("label", {}, smooth, " then smooth each session (with its calibration) and open it in the viewer"),
        start,
      ],
      message,
      async () => {
        jobs.follow(await api.predict({ run: run.value, sessions: sessions.filter((x) => x.box.checked).map((x) => x.s.id), smooth: smooth.checked }));
      },
    );
    return form;
  }

  // --- distillation ---------------------------------------------------------------------------------------
  function distillForm(): HTMLElement {
    const p = project!;
    const trained = p.runs.filter((r) => r.trained.length);
    const smoothed = p.sources.filter((s) => s.has_smoothed);
    if (!trained.length || !smoothed.length) return h("p", { class: "hint", text: "Distillation needs a trained run and smoothed results of its predictions." });
    const teacher = h("select", { "data-testid": "distill-teacher" }, ...trained.map((r) => h("option", { value: r.id, text: r.name })));
    const sources = smoothed.map((s) => ({ s, box: h("input", { type: "checkbox", value: s.id, checked: true }) }));
    const name = h("input", { value: "student", "data-testid": "distill-name" });
    const n = h("input", { type: "number", min: 1, value: 100, "data-testid": "distill-n" });
    const steps = h("input", { type: "number", min: 1, placeholder: "the teacher's", "data-testid": "distill-steps" });
    const overwrite = h("input", { type: "checkbox" });
    const start = h("button", { type: "submit", "data-testid": "distill-start", text: "Choose the frames" });
    const message = h("div", {});
    const form = actionForm(
      [
        h("label", {}, "Teacher ", teacher),
        h("div", {}, "Smoothed results: ", ...sources.map(({ s, box }) => h("label", { class: "inline" }, box, ` ${s.label} `))),
        h("label", {}, "Student name ", name, " frames ", n, " steps ", steps),
        h("label", {}, overwrite, " replace a student of this name"),
        start,
      ],
      message,
      async () => {
        jobs.follow(
          await api.distill({
            teacher: teacher.value,
            sources: sources.filter((x) => x.box.checked).map((x) => x.s.id),
            name: name.value.trim(),
            n_frames: Number(n.value),
            steps: steps.value ? Number(steps.value) : null,
            overwrite: overwrite.checked,
          }),
        );
      },
    );
    api.distillations().then((names) => {
      if (names.length) showDistillation(names[names.length - 1]);
    });
    return form;
  }

  async function showDistillation(name: string) {
    let d: Distillation;
    try {
      d = await api.distillation(name);
    } catch (err) {
      showError(distillBox, err);
      return;
    }
    const colors = keypointColors(d.keypoints.length);
    const trainStudent = h("button", { "data-testid": "distill-train", text: d.trained ? "Train the student again" : "Train the student" });
    trainStudent.onclick = () => api.train({ student: name, overwrite: d.trained }).then((j) => jobs.follow(j)).catch((err) => showError(distillBox, err));
    const compareTeacher = h("button", { "data-testid": "distill-compare", text: "Compare with the teacher" });
    compareTeacher.onclick = async () => {
      try {
        const p = await api.refresh();
        project = p;
        await compareRuns(p.runs.filter((r) => r.name === `runs/${name}` || r.name === d.teacher).map((r) => r.id), p);
      } catch (err) {
        showError(distillBox, err);
      }
    };
    const frames = d.frames.slice(0, 24).map((f, i) => {
      const figures = f.views.map((view) => {
        const canvas = h("canvas", { width: 1, height: 1, class: "pseudo" });
        const image = new Image();
        image.onload = () => {
          canvas.width = image.width;
          canvas.height = image.height;
          const ctx = canvas.getContext("2d")!;
          ctx.drawImage(image, 0, 0);
          (f.points[view] ?? []).forEach((p, k) => {
            if (!p) return;
            const w = f.weights[view]?.[k] ?? 0;
            ctx.globalAlpha = 0.35 + 0.65 * (w ?? 0);
            ctx.fillStyle = colors[k];
            ctx.beginPath();
            ctx.arc(p[0] + 0.5, p[1] + 0.5, Math.max(1.5, image.width / 90) * (0.5 + (w ?? 0)), 0, 2 * Math.PI);
            ctx.fill();
          });
        };
        image.src = api.distillationImageUrl(name, i, view);
        return h("figure", {}, canvas, h("figcaption", { text: view }));
      });
      return h("div", { class: "pseudo-frame" }, h("div", { class: "hint", text: `${f.session} frame ${f.frame} · mean weight ${f.mean_weight.toFixed(2)} · variance ${f.frame_variance.toPrecision(3)}` }), h("div", { class: "row" }, ...figures));
    });
    distillBox.replaceChildren(
      h("h3", { text: `Student ${name}: ${d.frames.length} pseudo-labeled frames${d.teacher ? ` from ${d.teacher}` : ""}` }),
      h("p", { class: "hint", text: "Each keypoint's dot is larger and more opaque the more its weight (how certain the smoother was): a keypoint as certain as is typical of its session weighs 1/2." }),
      h("div", { class: "row" }, trainStudent, " ", compareTeacher),
      h("div", { class: "pseudo-frames", "data-testid": "pseudo-frames" }, ...frames),
    );
  }

  return {
    element,
    destroy() {
      jobs.destroy();
      charts.forEach((c) => c.destroy());
      timers.forEach((t) => clearInterval(t));
      clearTimeout(looking);
    },
  };
}
