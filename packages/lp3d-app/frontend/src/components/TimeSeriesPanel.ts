/** One keypoint over time, linked to the cursor: x and y per view (centre, EKS with its 95% band, and each
 * member when asked), ensemble and posterior variance, reprojection error with the inflated frames, and s;
 * of one animal (a choice when the session has several).
 * Click a point: the viewer goes to its frame. Drag to zoom: the zoomed range is fetched again, decimated on
 * the server. */
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { api, type Series, type Session, type Source } from "../api/client";
import { bucketSize } from "../lib/decimate";
import type { TimeCursor } from "../lib/cursor";
import { h, showError } from "../lib/dom";

const VIEW_COLORS = ["#4fc3f7", "#ffb74d", "#81c784", "#f06292", "#ba68c8", "#fff176"];

export function TimeSeriesPanel(session: Session, cursor: TimeCursor) {
  const smoothed = session.sources.filter((s) => s.has_smoothed);
  let source: Source | undefined = smoothed[smoothed.length - 1] ?? session.sources[0];
  let keypoint = session.keypoints[0];
  let plots: uPlot[] = [];
  let range: [number, number] = [0, session.n_frames];
  let loadedStep = 1;
  const keypointSelect = h("select", { "data-testid": "series-keypoint" }, ...session.keypoints.map((k) => h("option", { value: k, text: k })));
  const sourceSelect = h("select", { "data-testid": "series-source" }, ...session.sources.map((s) => h("option", { value: s.id, text: s.label, selected: s.id === source?.id })));
  let individual: string | null = session.individuals[0] ?? null;
  const individualSelect = h("select", { "data-testid": "series-individual" }, ...session.individuals.map((i) => h("option", { value: i, text: i })));
  const membersBox = h("input", { type: "checkbox", "data-testid": "series-members" });
  const membersLabel = h("label", { title: "each ensemble member's x and y" }, membersBox, " members");
  const info = h("span", { class: "hint", "data-testid": "series-info" });
  const reset = h("button", { text: "Whole session" });
  const charts = h("div", { class: "charts" });
  const element = h("section", { class: "timeseries", "data-testid": "timeseries" }, h("div", { class: "toolbar" }, h("b", { text: "Time series " }), keypointSelect, session.individuals.length > 1 ? individualSelect : null, sourceSelect, membersLabel, reset, info), charts);
  keypointSelect.onchange = () => {
    keypoint = keypointSelect.value;
    load();
  };
  sourceSelect.onchange = () => {
    source = session.sources.find((s) => s.id === sourceSelect.value);
    load();
  };
  individualSelect.onchange = () => {
    individual = individualSelect.value;
    load();
  };
  membersBox.onchange = () => load();
  reset.onclick = () => {
    range = [0, session.n_frames];
    load();
  };

  const cursorPlugin = (): uPlot.Plugin => ({
    hooks: {
      draw: (u) => {
        const x = u.valToPos(cursor.frame, "x", true);
        const ctx = u.ctx;
        ctx.save();
        ctx.strokeStyle = "#ff5252";
        ctx.lineWidth = 1.5;
        ctx.beginPath();
        ctx.moveTo(x, u.bbox.top);
        ctx.lineTo(x, u.bbox.top + u.bbox.height);
        ctx.stroke();
        ctx.restore();
      },
      ready: (u) => {
        u.over.addEventListener("click", (e) => {
          const frame = Math.round(u.posToVal((e as MouseEvent).offsetX, "x"));
          cursor.set(frame);
        });
      },
      setSelect: (u) => {
        if (u.select.width < 5) return;
        const lo = Math.max(0, Math.floor(u.posToVal(u.select.left, "x")));
        const hi = Math.min(session.n_frames, Math.ceil(u.posToVal(u.select.left + u.select.width, "x")) + 1);
        u.setSelect({ left: 0, width: 0, top: 0, height: 0 }, false);
        if (hi - lo >= 2) {
          range = [lo, hi];
          load();
        }
      },
    },
  });

  function chart(title: string, time: number[], series: { label: string; values: (number | null)[]; color: string; width?: number; dash?: number[]; points?: boolean }[], width: number) {
    const opts: uPlot.Options = {
      title,
      width,
      height: 130,
      plugins: [cursorPlugin()],
      cursor: { drag: { x: true, y: false, setScale: false } },
      legend: { show: true, live: false },
      scales: { x: { time: false, range: [range[0], range[1] - 1] } },
      axes: [{ stroke: "#aaa", grid: { stroke: "#333" } }, { stroke: "#aaa", grid: { stroke: "#333" }, size: 55 }],
      series: [
        {},
        ...series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: s.width ?? 1,
          dash: s.dash,
          points: { show: !!s.points, size: 5, fill: s.color },
          paths: s.points ? () => null : undefined,
          spanGaps: false,
        })),
      ],
    };
    const plot = new uPlot(opts, [time, ...series.map((s) => s.values)] as uPlot.AlignedData, charts);
    plots.push(plot);
  }

  function render(data: Series) {
    plots.forEach((p) => p.destroy());
    plots = [];
    charts.replaceChildren();
    const width = Math.max(charts.clientWidth - 10, 500);
    const views = Object.keys(data.views);
    const time = data.time;
    for (const axis of ["x", "y"]) {
      views.forEach((view, v) => {
        const d = data.views[view];
        const members = Object.keys(d).filter((k) => k.startsWith(`${axis}_`) && !["center", "smoothed", "low", "high"].includes(k.slice(2)));
        const series = [
          ...members.map((m) => ({ label: m.slice(2), values: d[m], color: "rgba(180,180,180,0.45)" })),
          { label: "centre", values: d[`${axis}_center`], color: "#eeeeee", width: 1 },
        ];
        if (d[`${axis}_smoothed`]) {
          series.push(
            { label: "95% low", values: d[`${axis}_low`], color: "rgba(79,195,247,0.5)", width: 1 },
            { label: "95% high", values: d[`${axis}_high`], color: "rgba(79,195,247,0.5)", width: 1 },
            { label: "EKS", values: d[`${axis}_smoothed`], color: VIEW_COLORS[v % VIEW_COLORS.length], width: 2 },
          );
        }
        chart(`${view} ${axis} (px)`, time, series, width);
      });
    }
    if (views.some((view) => data.views[view].ensemble_variance)) {
      chart("variance (px², x + y)", time, views.flatMap((view, v) => [
        { label: `${view} ensemble`, values: data.views[view].ensemble_variance, color: VIEW_COLORS[v % VIEW_COLORS.length], dash: [4, 3] },
        { label: `${view} posterior`, values: data.views[view].posterior_variance, color: VIEW_COLORS[v % VIEW_COLORS.length], width: 2 },
      ]), width);
      chart("reprojection error (px) · ● inflated", time, views.flatMap((view, v) => [
        { label: `${view} error`, values: data.views[view].error, color: VIEW_COLORS[v % VIEW_COLORS.length] },
        {
          label: `${view} inflated`,
          values: data.views[view].inflated.map((f, i) => (f && f > 0 ? data.views[view].error[i] : null)),
          color: "#ff1744",
          points: true,
        },
      ]), width);
    }
    if (data.space.x) {
      chart("3D position", time, ["x", "y", "z"].map((a, i) => ({ label: a, values: data.space[a], color: VIEW_COLORS[i] })), width);
    }
    const columns = data.step > 1 ? `${data.step} frames per column (min/max${data.overview ? " of 16-frame blocks" : ""})` : "every frame";
    const animal = session.individuals.length > 1 && data.individual ? `${data.individual} · ` : "";
    info.textContent = `${animal}s = ${data.s === null ? "—" : data.s.toPrecision(3)} · frames ${data.start}–${data.stop - 1} · ${columns}`;
    element.dataset.ready = `${data.keypoint}:${data.start}:${data.stop}`;
    element.dataset.individual = data.individual ?? "";
  }

  async function load() {
    if (!source) {
      charts.replaceChildren(h("p", { text: "No results for this session." }));
      return;
    }
    const width = Math.max(charts.clientWidth, 600);
    loadedStep = bucketSize(range[1] - range[0], width);
    element.dataset.ready = "";
    info.textContent = "reading the series… (the first time a long session is opened, its overview is built: seconds)";
    try {
      // a source without this animal (another store of the session) shows its first
      const animal = individual && source.individuals.includes(individual) ? individual : null;
      render(await api.series(source.id, keypoint, range[0], range[1], width, membersBox.checked, animal));
    } catch (err) {
      showError(charts, err);
    }
  }

  const unsubscribe = cursor.subscribe(() => plots.forEach((p) => p.redraw(false)));
  return {
    element,
    load,
    get step() {
      return loadedStep;
    },
    destroy() {
      unsubscribe();
      plots.forEach((p) => p.destroy());
    },
  };
}
