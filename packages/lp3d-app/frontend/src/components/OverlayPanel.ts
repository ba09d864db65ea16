/** Which sources, layers and animals are drawn, each with a toggle and a colour; the keypoint legend. */
import type { Source } from "../api/client";
import { individualColors } from "../lib/colors";
import { h } from "../lib/dom";

export const LAYERS = [
  { key: "members", label: "ensemble members", color: "#c8c8c8" },
  { key: "center", label: "ensemble centre", color: "#ffffff" },
  { key: "smoothed", label: "EKS", color: "keypoint" },
  { key: "ellipses", label: "posterior 95% ellipses", color: "keypoint" },
  { key: "triangulated", label: "3D (DLT) reprojected", color: "#00e5ff" },
  { key: "inflated", label: "inflated observations", color: "#ff1744" },
  { key: "skeleton", label: "skeleton", color: "#ffeb3b" },
] as const;
export type LayerKey = (typeof LAYERS)[number]["key"];

export interface OverlayState {
  sources: string[];
  layers: Record<LayerKey, { on: boolean; color: string }>;
  /** Each animal's toggle and colour (several animals: the skeleton, rings around the EKS points and the 3D
   * view take the animal's colour). */
  individuals: Record<string, { on: boolean; color: string }>;
}

export function defaultOverlays(sources: Source[], individuals: string[]): OverlayState {
  const smoothed = sources.filter((s) => s.has_smoothed);
  const chosen = smoothed.length ? [smoothed[smoothed.length - 1].id] : sources.slice(0, 1).map((s) => s.id);
  const layers = Object.fromEntries(LAYERS.map((l) => [l.key, { on: l.key !== "triangulated", color: l.color }])) as OverlayState["layers"];
  const colors = individualColors(individuals.length);
  return { sources: chosen, layers, individuals: Object.fromEntries(individuals.map((name, i) => [name, { on: true, color: colors[i] }])) };
}

/** Whether an animal's layers are drawn (an entry without an animal always is). */
export function individualShown(state: OverlayState, individual: string | null | undefined): boolean {
  return !individual || state.individuals[individual]?.on !== false;
}

/** The colour of an animal's layers when a session has several, else null (one animal keeps the layers' colours). */
export function individualTint(state: OverlayState, individual: string | null | undefined): string | null {
  return individual && Object.keys(state.individuals).length > 1 ? (state.individuals[individual]?.color ?? null) : null;
}

export function OverlayPanel(sources: Source[], keypoints: string[], colors: string[], state: OverlayState, changed: () => void) {
  const sourceRows = sources.map((s) => {
    const box = h("input", { type: "checkbox", checked: state.sources.includes(s.id), "data-testid": `source-${s.id}` });
    box.onchange = () => {
      state.sources = box.checked ? [...state.sources, s.id] : state.sources.filter((x) => x !== s.id);
      changed();
    };
    return h("label", { class: "row" }, box, ` ${s.label}`);
  });
  const layerRows = LAYERS.map((l) => {
    const box = h("input", { type: "checkbox", checked: state.layers[l.key].on, "data-testid": `layer-${l.key}` });
    box.onchange = () => {
      state.layers[l.key].on = box.checked;
      changed();
    };
    const row = h("label", { class: "row" }, box, ` ${l.label} `);
    if (l.color !== "keypoint") {
      const color = h("input", { type: "color", value: state.layers[l.key].color, "data-testid": `color-${l.key}` });
      color.oninput = () => {
        state.layers[l.key].color = color.value;
        changed();
      };
      row.append(color);
    } else row.append(h("span", { class: "hint", text: "(keypoint colours)" }));
    return row;
  });
  const individualRows = Object.entries(state.individuals).map(([name, style]) => {
    const box = h("input", { type: "checkbox", checked: style.on, "data-testid": `individual-${name}` });
    box.onchange = () => {
      style.on = box.checked;
      changed();
    };
    const color = h("input", { type: "color", value: style.color, "data-testid": `individual-color-${name}` });
    color.oninput = () => {
      style.color = color.value;
      changed();
    };
    return h("label", { class: "row" }, box, ` ${name} `, color);
  });
  const animals = individualRows.length > 1 ? [h("h3", { text: "Animals" }), h("div", { "data-testid": "individuals" }, ...individualRows)] : [];
  const legend = h(
    "div",
    { class: "legend", "data-testid": "legend" },
    ...keypoints.map((k, i) => h("span", { class: "key" }, h("i", { style: `background:${colors[i]}` }), k)),
  );
  return h("aside", { class: "overlays" }, h("h3", { text: "Results" }), ...sourceRows, ...animals, h("h3", { text: "Layers" }), ...layerRows, h("h3", { text: "Keypoints" }), legend);
}
