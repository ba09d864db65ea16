/** A run's training curves: one chart per metric (the loss, the validation pixel error), a line per member. */
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import type { RunDetail } from "../api/client";
import { h } from "../lib/dom";

const MEMBER_COLORS = ["#4fc3f7", "#ffb74d", "#81c784", "#f06292", "#ba68c8", "#fff176", "#90a4ae"];

/** Steps of every member together (sorted, distinct), and each member's values on them (null: none there). */
export function alignSeries(members: Record<string, { step: number[]; value: number[] }>): [number[], (number | null)[][]] {
  const steps = [...new Set(Object.values(members).flatMap((s) => s.step))].sort((a, b) => a - b);
  const index = new Map(steps.map((s, i) => [s, i]));
  const values = Object.values(members).map((s) => {
    const row: (number | null)[] = new Array(steps.length).fill(null);
    s.step.forEach((step, i) => (row[index.get(step)!] = s.value[i]));
    return row;
  });
  return [steps, values];
}

export function MetricsChart(metrics: string[] = ["train/loss", "val/pixel_error"]) {
  const element = h("div", { class: "metrics", "data-testid": "metrics" });
  let plots: uPlot[] = [];

  function show(run: RunDetail, width = 520) {
    plots.forEach((p) => p.destroy());
    plots = [];
    element.replaceChildren();
    for (const metric of metrics) {
      const members = Object.fromEntries(Object.entries(run.metrics).filter(([, m]) => m[metric]).map(([name, m]) => [name, m[metric]]));
      if (!Object.keys(members).length) continue;
      const [steps, values] = alignSeries(members);
      const opts: uPlot.Options = {
        title: metric === "val/pixel_error" ? "validation error (px)" : metric,
        width,
        height: 170,
        scales: { x: { time: false } },
        axes: [{ stroke: "#aaa", grid: { stroke: "#333" }, label: "step" }, { stroke: "#aaa", grid: { stroke: "#333" }, size: 50 }],
        series: [{}, ...Object.keys(members).map((name, i) => ({ label: name, stroke: MEMBER_COLORS[i % MEMBER_COLORS.length], width: 1.5, spanGaps: true, points: { show: steps.length < 40 } }))],
      };
      const box = h("div", { class: "chart", "data-metric": metric });
      element.append(box);
      plots.push(new uPlot(opts, [steps, ...values] as uPlot.AlignedData, box));
    }
    if (!plots.length) element.append(h("p", { class: "hint", text: "No metrics yet (they are written as training goes)." }));
    element.dataset.points = String(Object.values(run.metrics).reduce((n, m) => n + (m["train/loss"]?.step.length ?? 0), 0));
  }

  return {
    element,
    show,
    destroy() {
      plots.forEach((p) => p.destroy());
    },
  };
}
