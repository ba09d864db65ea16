/** Diagnostics: pixel error on labeled frames per model and stage (box plots, any number of models), and
 * per source: ensemble variance, reprojection-error histograms, share of inflated observations per keypoint
 * and view, and the worst frames (most inconsistent across views, highest posterior variance), which open
 * in the viewer. */
import { api, type Errors, type Project, type Statistics } from "../api/client";
import { rampColor } from "../lib/colors";
import { h, showError, type Page } from "../lib/dom";

type Box = Errors["groups"][number]["overall"];

const STAGE_COLORS: Record<string, string> = { member: "#607d8b", ensemble: "#8d6e63", smoothed: "#1f7ae0" };

function boxPlot(rows: { label: string; box: Box; stage: string }[]): HTMLCanvasElement {
  const rowH = 24;
  const width = 1000;
  const canvas = h("canvas", { width, height: rows.length * rowH + 34, "data-testid": "boxplot" });
  const ctx = canvas.getContext("2d")!;
  ctx.font = "12px sans-serif";
  const left = Math.min(460, 12 + Math.max(...rows.map((r) => ctx.measureText(r.label).width)));
  const max = Math.max(1, ...rows.map((r) => r.box.high ?? 0));
  const x = (v: number) => left + ((width - left - 50) * v) / max;
  rows.forEach(({ label, box, stage }, i) => {
    const y = 10 + i * rowH + rowH / 2;
    ctx.fillStyle = "#ddd";
    ctx.textAlign = "right";
    ctx.fillText(label, left - 8, y + 4);
    ctx.textAlign = "left";
    if (box.n === 0 || box.q1 === null) return;
    ctx.strokeStyle = "#9cc3ea";
    ctx.beginPath();
    ctx.moveTo(x(box.low!), y);
    ctx.lineTo(x(box.high!), y);
    ctx.stroke();
    ctx.fillStyle = STAGE_COLORS[stage] ?? "#1f5fa8";
    ctx.fillRect(x(box.q1!), y - 7, x(box.q3!) - x(box.q1!), 14);
    ctx.strokeStyle = "#fff";
    ctx.beginPath();
    ctx.moveTo(x(box.median!), y - 8);
    ctx.lineTo(x(box.median!), y + 8);
    ctx.stroke();
  });
  ctx.fillStyle = "#aaa";
  ctx.textAlign = "center";
  for (let t = 0; t <= 4; t++) ctx.fillText(`${((max * t) / 4).toFixed(1)} px`, x((max * t) / 4), rows.length * rowH + 28);
  return canvas;
}

function histogram(counts: number[], edges: number[]): HTMLCanvasElement {
  const canvas = h("canvas", { width: 120, height: 40, class: "hist" });
  const ctx = canvas.getContext("2d")!;
  const max = Math.max(1, ...counts);
  const w = 120 / counts.length;
  counts.forEach((c, i) => {
    ctx.fillStyle = "#4fc3f7";
    ctx.fillRect(i * w, 40 - (36 * c) / max, Math.max(w - 1, 1), (36 * c) / max);
  });
  canvas.title = `reprojection error, 0 – ${edges[edges.length - 1].toFixed(2)} px (the 99th percentile)`;
  return canvas;
}

export function DiagnosticsPage(): Page {
  const element = h("section", { class: "diagnostics", "data-testid": "diagnostics-page" }, h("p", { text: "Loading…" }));
  const errorsBox = h("div", { "data-testid": "errors" }, h("p", { text: "Computing errors on labeled frames…" }));
  const sourceBox = h("div", { "data-testid": "source-stats" });
  api
    .project()
    .then((p) => render(p))
    .catch((err) => showError(element, err));

  function render(project: Project) {
    const smoothed = project.sources.filter((s) => s.has_smoothed);
    // one entry per source and animal (a session of several animals: statistics per animal)
    const entries = smoothed.flatMap((s) => (s.individuals.length > 1 ? s.individuals.map((a) => ({ s, animal: a as string | null })) : [{ s, animal: null }]));
    const select = h("select", { "data-testid": "diag-source" }, ...entries.map(({ s, animal }, i) => h("option", { value: String(i), text: `${s.label} · ${s.session}${animal === null ? "" : ` · ${animal}`}` })));
    select.onchange = () => loadSource(entries[Number(select.value)].s.id, entries[Number(select.value)].animal);
    const byKeypoint = h("select", {}, h("option", { value: "overall", text: "all keypoints and views" }), ...project.keypoints.map((k) => h("option", { value: k, text: `keypoint ${k}` })));
    element.replaceChildren(
      h("h1", { text: "Diagnostics" }),
      h("h2", { text: "Pixel error on labeled frames, per model and stage" }, " ", byKeypoint),
      errorsBox,
      h("h2", { text: "Per keypoint and view" }, " ", select),
      sourceBox,
    );
    let errors: Errors | null = null;
    const drawErrors = () => {
      if (!errors) return;
      if (!errors.groups.length) {
        errorsBox.replaceChildren(h("p", { text: errors.message ?? "No errors to show." }));
        return;
      }
      const key = byKeypoint.value;
      const rows = errors.groups.map((g) => ({ label: `${g.model} (${g.n_frames} frames)`, box: key === "overall" ? g.overall : g.by_keypoint[key], stage: g.stage }));
      errorsBox.replaceChildren(
        h("p", { "data-testid": "scored", text: `Scored: ${errors.scored ?? "the labeled frames"}.` }),
        h(
          "p",
          { class: "hint" },
          "Pixel distance to the label, every keypoint and view of every scored frame. Box: quartiles and median; whiskers: the farthest errors within 1.5 × IQR. ",
          ...Object.entries(STAGE_COLORS).map(([stage, color]) => h("span", { class: "swatch", style: `background:${color}`, text: stage === "smoothed" ? "EKS" : stage === "member" ? "ensemble member" : "ensemble centre" })),
        ),
        boxPlot(rows),
      );
    };
    byKeypoint.onchange = drawErrors;
    api
      .errors()
      .then((e) => {
        errors = e;
        drawErrors();
      })
      .catch((err) => showError(errorsBox, err));
    if (entries.length) {
      const last = entries.findIndex((e) => e.s.id === smoothed[smoothed.length - 1].id);
      select.value = String(last);
      loadSource(entries[last].s.id, entries[last].animal);
    } else sourceBox.replaceChildren(h("p", { text: "No smoothed results: run a smoothing job first." }));

    async function loadSource(id: string, animal: string | null) {
      sourceBox.replaceChildren(h("p", { text: "Reading the source…" }));
      let stats: Statistics;
      try {
        stats = await api.statistics(id, animal);
      } catch (err) {
        showError(sourceBox, err);
        return;
      }
      const session = project.sessions.find((s) => s.sources.includes(id));
      const maxVar = Math.max(...stats.stats.map((s) => s.ensemble_variance ?? 0), 1e-9);
      const columns = ["inflated", "ens. var (px²)", "post. var (px²)", "error median / p95 (px)", "error histogram"];
      const table = h(
        "table",
        { class: "stats", "data-testid": "stats-table" },
        h("tr", {}, h("th", { rowspan: 2, text: "keypoint" }), h("th", { rowspan: 2, text: "motion" }), h("th", { rowspan: 2, text: "s" }), ...stats.views.map((v) => h("th", { colspan: columns.length, class: "view", text: v }))),
        h("tr", {}, ...stats.views.flatMap(() => columns.map((c) => h("th", { class: "sub", text: c })))),
        ...stats.keypoints.map((k) =>
          h(
            "tr",
            {},
            h("td", { text: k }),
            h("td", { "data-testid": "stats-motion", text: stats.motion?.[k] || "—" }),
            h("td", { text: stats.s[k]?.toPrecision(3) ?? "—" }),
            ...stats.views.flatMap((v) => {
              const s = stats.stats.find((x) => x.keypoint === k && x.view === v)!;
              const hist = histogram(s.histogram, s.edges);
              return [
                h("td", { class: s.inflated > 0.05 ? "num warn view" : "num view", text: `${(100 * s.inflated).toFixed(1)}%` }),
                h("td", { class: "num", style: `color:${rampColor(s.ensemble_variance ?? 0, 0, maxVar)}`, text: (s.ensemble_variance ?? NaN).toFixed(2) }),
                h("td", { class: "num", text: (s.posterior_variance ?? NaN).toFixed(2) }),
                h("td", { class: "num", text: `${(s.error_median ?? NaN).toFixed(2)} / ${(s.error_p95 ?? NaN).toFixed(2)}` }),
                h("td", {}, hist),
              ];
            }),
          ),
        ),
      );
      const note = h(
        "p",
        { class: "hint" },
        `${stats.n_frames} frames. inflated: share of observed frames whose variance the smoother inflated (outliers); ens. var: median ensemble variance (coloured from low, grey, to the highest, red); post. var: median posterior variance; error: reprojection error, the distance between the ensemble centre and the smoothed track; histogram: 0 px to the 99th percentile (larger errors in the last bar).`,
      );
      const worst = (title: string, items: Statistics["inconsistent"], testid: string) =>
        h(
          "div",
          { class: "worst" },
          h("h3", { text: title }),
          h(
            "ol",
            { "data-testid": testid },
            ...items.map((w) =>
              h("li", {}, h("a", { href: session ? `#/viewer/${encodeURIComponent(session.id)}?frame=${w.frame}` : "#", text: `frame ${w.frame}` }), ` ${w.score.toFixed(2)} (${w.keypoint}${w.view ? ` in ${w.view}` : ""})`),
            ),
          ),
        );
      const calibrated = project.sources.find((s) => s.id === id)?.smoother === "calibrated";
      sourceBox.replaceChildren(
        note,
        table,
        h(
          "div",
          { class: "worst-lists" },
          worst("Most inconsistent across views: mean over keypoints of the worst view's reprojection error (px)", stats.inconsistent, "worst-inconsistent"),
          worst(`Most uncertain: mean over keypoints of the posterior variance (${calibrated ? "3D, world units², x + y + z" : "worst view, px², x + y"})`, stats.uncertain, "worst-uncertain"),
        ),
        h("p", { class: "hint", text: "Click a frame to open it in the viewer; in brackets the keypoint (and view) that contributes most." }),
      );
    }
  }

  return { element, destroy() {} };
}
