/** Diagnostics: pixel error on labeled frames per model and stage (box plots, any number of models), and
 * per source: ensemble variance, reprojection-error histograms, share of inflated observations per keypoint
 * and view, and the worst frames (most inconsistent across views, highest posterior variance), which open
 * in the viewer. */
import { api, type Errors, type Project, type Statistics } from "../api/client";
import { rampColor } from "../lib/colors";
import { h, showError, type Page } from "../lib/dom";

type Box = Errors["groups"][number]["overall"];

function boxPlot(rows: { label: string; box: Box }[]): HTMLCanvasElement {
  const rowH = 24;
  const left = 300;
  const width = 900;
  const canvas = h("canvas", { width, height: rows.length * rowH + 30, "data-testid": "boxplot" });
  const ctx = canvas.getContext("2d")!;
  const max = Math.max(1, ...rows.map((r) => r.box.high ?? 0));
  const x = (v: number) => left + ((width - left - 20) * v) / max;
  ctx.fillStyle = "#ddd";
  ctx.font = "12px sans-serif";
  rows.forEach(({ label, box }, i) => {
    const y = 10 + i * rowH + rowH / 2;
    ctx.fillStyle = "#ddd";
    ctx.fillText(label.length > 45 ? "…" + label.slice(-44) : label, 4, y + 4);
    if (box.n === 0 || box.q1 === null) return;
    ctx.strokeStyle = "#9cc3ea";
    ctx.beginPath();
    ctx.moveTo(x(box.low!), y);
    ctx.lineTo(x(box.high!), y);
    ctx.stroke();
    ctx.fillStyle = "#1f5fa8";
    ctx.fillRect(x(box.q1!), y - 7, x(box.q3!) - x(box.q1!), 14);
    ctx.strokeStyle = "#fff";
    ctx.beginPath();
    ctx.moveTo(x(box.median!), y - 8);
    ctx.lineTo(x(box.median!), y + 8);
    ctx.stroke();
  });
  ctx.fillStyle = "#aaa";
  for (let t = 0; t <= 4; t++) ctx.fillText(`${((max * t) / 4).toFixed(1)} px`, x((max * t) / 4) - 10, rows.length * rowH + 25);
  return canvas;
}

function histogram(counts: number[], edges: number[]): HTMLCanvasElement {
  const canvas = h("canvas", { width: 160, height: 50, class: "hist" });
  const ctx = canvas.getContext("2d")!;
  const max = Math.max(1, ...counts);
  const w = 160 / counts.length;
  counts.forEach((c, i) => {
    ctx.fillStyle = "#4fc3f7";
    ctx.fillRect(i * w, 50 - (44 * c) / max, w - 1, (44 * c) / max);
  });
  canvas.title = `0 – ${edges[edges.length - 1].toFixed(2)} px`;
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
    const select = h("select", { "data-testid": "diag-source" }, ...smoothed.map((s) => h("option", { value: s.id, text: `${s.label} · ${s.session}` })));
    select.onchange = () => loadSource(select.value);
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
      const rows = errors.groups.map((g) => ({ label: `${g.model} (${g.n_frames} frames)`, box: key === "overall" ? g.overall : g.by_keypoint[key] }));
      errorsBox.replaceChildren(boxPlot(rows));
    };
    byKeypoint.onchange = drawErrors;
    api
      .errors()
      .then((e) => {
        errors = e;
        drawErrors();
      })
      .catch((err) => showError(errorsBox, err));
    if (smoothed.length) loadSource(smoothed[smoothed.length - 1].id);
    else sourceBox.replaceChildren(h("p", { text: "No smoothed results: run a smoothing job first." }));

    async function loadSource(id: string) {
      sourceBox.replaceChildren(h("p", { text: "Reading the source…" }));
      let stats: Statistics;
      try {
        stats = await api.statistics(id);
      } catch (err) {
        showError(sourceBox, err);
        return;
      }
      const session = project.sessions.find((s) => s.sources.includes(id));
      const maxVar = Math.max(...stats.stats.map((s) => s.ensemble_variance ?? 0), 1e-9);
      const table = h(
        "table",
        { class: "stats", "data-testid": "stats-table" },
        h("tr", {}, h("th", { text: "keypoint" }), h("th", { text: "s" }), ...stats.views.map((v) => h("th", { text: `${v}: inflated · ens. var · post. var · error (median / p95) · histogram` }))),
        ...stats.keypoints.map((k) =>
          h(
            "tr",
            {},
            h("td", { text: k }),
            h("td", { text: stats.s[k]?.toPrecision(3) ?? "—" }),
            ...stats.views.map((v) => {
              const s = stats.stats.find((x) => x.keypoint === k && x.view === v)!;
              return h(
                "td",
                {},
                h("span", { text: `${(100 * s.inflated).toFixed(1)}% · ` }),
                h("span", { style: `color:${rampColor(s.ensemble_variance ?? 0, 0, maxVar)}`, text: `${(s.ensemble_variance ?? NaN).toFixed(2)} · ` }),
                h("span", { text: `${(s.posterior_variance ?? NaN).toFixed(2)} · ${(s.error_median ?? NaN).toFixed(2)} / ${(s.error_p95 ?? NaN).toFixed(2)} ` }),
                histogram(s.histogram, s.edges),
              );
            }),
          ),
        ),
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
      sourceBox.replaceChildren(
        table,
        h("div", { class: "worst-lists" }, worst("Most inconsistent across views (px)", stats.inconsistent, "worst-inconsistent"), worst("Highest posterior variance", stats.uncertain, "worst-uncertain")),
      );
    }
  }

  return { element, destroy() {} };
}
