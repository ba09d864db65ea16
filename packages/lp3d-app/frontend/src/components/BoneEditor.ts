/** The skeleton's bones: pick two keypoints to join (or chain them: each new bone starts where the last
 * ended), remove one with ×. The keypoints may change while it is open (a new project's list). */
import { keypointColors } from "../lib/colors";
import { h } from "../lib/dom";

export type Bone = [string, string];

export function BoneEditor(initialKeypoints: string[], initialBones: Bone[], changed: (bones: Bone[]) => void = () => {}) {
  let keypoints = [...initialKeypoints];
  let bones: Bone[] = initialBones.map(([a, b]) => [a, b]);
  const from = h("select", { "data-testid": "bone-from", "aria-label": "bone from" });
  const to = h("select", { "data-testid": "bone-to", "aria-label": "bone to" });
  const add = h("button", { type: "button", "data-testid": "bone-add", text: "Add bone" });
  const list = h("ul", { class: "bones", "data-testid": "bones" });
  const element = h("div", { class: "bone-editor" }, h("div", { class: "row" }, from, " – ", to, " ", add), list);

  function options(select: HTMLSelectElement, value: string) {
    select.replaceChildren(...keypoints.map((k) => h("option", { value: k, text: k, selected: k === value })));
  }

  function render() {
    const colors = keypointColors(keypoints.length);
    const color = (k: string) => colors[keypoints.indexOf(k)] ?? "#999";
    list.replaceChildren(
      ...bones.map(([a, b], i) => {
        const remove = h("button", { type: "button", class: "small", title: "remove this bone", text: "×" });
        remove.onclick = () => {
          bones.splice(i, 1);
          render();
          changed(bones);
        };
        return h("li", {}, h("i", { class: "dot", style: `background:${color(a)}` }), ` ${a} – `, h("i", { class: "dot", style: `background:${color(b)}` }), ` ${b} `, remove);
      }),
    );
    if (!bones.length) list.append(h("li", { class: "hint", text: "No bones yet." }));
  }

  add.onclick = () => {
    const a = from.value;
    const b = to.value;
    if (!a || !b || a === b || bones.some(([x, y]) => (x === a && y === b) || (x === b && y === a))) return;
    bones.push([a, b]);
    options(from, b); // chain: the next bone starts where this one ended
    options(to, keypoints[(keypoints.indexOf(b) + 1) % keypoints.length]);
    render();
    changed(bones);
  };

  function setKeypoints(next: string[]) {
    keypoints = [...next];
    bones = bones.filter(([a, b]) => keypoints.includes(a) && keypoints.includes(b));
    options(from, keypoints[0] ?? "");
    options(to, keypoints[1] ?? "");
    render();
  }

  setKeypoints(keypoints);
  return {
    element,
    setKeypoints,
    get bones(): Bone[] {
      return bones.map(([a, b]) => [a, b]);
    },
  };
}
