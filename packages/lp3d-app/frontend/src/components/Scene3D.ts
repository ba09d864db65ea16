/** The smoothed skeleton(s) in 3D at the cursor's frame, one per animal: rotate (drag), zoom (wheel). */
import * as THREE from "three";
import { OrbitControls } from "three/examples/jsm/controls/OrbitControls.js";
import { h } from "../lib/dom";

const SKELETON_COLOR = "#ffeb3b";

export function Scene3D(keypoints: string[], skeleton: [string, string][], colors: string[]) {
  const element = h("div", { class: "scene3d", "data-testid": "scene3d" });
  const renderer = new THREE.WebGLRenderer({ antialias: true, preserveDrawingBuffer: true });
  renderer.setPixelRatio(1);
  renderer.setSize(360, 300);
  element.append(renderer.domElement);
  const status = h("p", { class: "hint", "data-testid": "scene3d-status", text: "" });
  element.append(status);
  const scene = new THREE.Scene();
  scene.background = new THREE.Color("#15181d");
  const camera = new THREE.PerspectiveCamera(45, 360 / 300, 0.1, 100000);
  camera.up.set(0, 0, 1);
  const controls = new OrbitControls(camera, renderer.domElement);
  const grid = new THREE.GridHelper(400, 8, 0x444444, 0x2a2a2a);
  grid.rotation.x = Math.PI / 2;
  scene.add(grid);
  const pairs = skeleton.map(([a, b]) => [keypoints.indexOf(a), keypoints.indexOf(b)]).filter(([a, b]) => a >= 0 && b >= 0);
  /** One skeleton per animal: its keypoints' spheres (keypoint colours) and its bones (the animal's colour). */
  const animals: { spheres: THREE.Mesh[]; positions: Float32Array; geometry: THREE.BufferGeometry; lines: THREE.LineSegments }[] = [];
  let sphereScale = 1;
  function animal(i: number) {
    while (animals.length <= i) {
      const spheres = keypoints.map((_, k) => {
        const mesh = new THREE.Mesh(new THREE.SphereGeometry(1, 12, 8), new THREE.MeshBasicMaterial({ color: colors[k] }));
        mesh.scale.setScalar(sphereScale);
        scene.add(mesh);
        return mesh;
      });
      const positions = new Float32Array(pairs.length * 6);
      const geometry = new THREE.BufferGeometry();
      geometry.setAttribute("position", new THREE.BufferAttribute(positions, 3));
      const lines = new THREE.LineSegments(geometry, new THREE.LineBasicMaterial({ color: SKELETON_COLOR }));
      scene.add(lines);
      animals.push({ spheres, positions, geometry, lines });
    }
    return animals[i];
  }
  animal(0);
  let framed = false;
  const render = () => renderer.render(scene, camera);
  controls.addEventListener("change", render);
  const valid = (p: (number | null)[]) => p[0] !== null && p[1] !== null && p[2] !== null;

  /** Draws each animal's `(keypoint, 3)` points (null: no 3D result); `color` its bones' (default yellow). */
  function show(shown: { points: (number | null)[][]; color?: string | null }[] | null, frame: number) {
    if (!shown) {
      status.textContent = "No 3D result for this source (smooth with a calibration).";
      animals.forEach((a) => {
        a.spheres.forEach((s) => (s.visible = false));
        a.lines.visible = false;
      });
      render();
      return;
    }
    const all = shown.flatMap((a) => a.points.filter(valid)) as number[][];
    if (!framed && all.length) {
      const c = [0, 1, 2].map((i) => all.reduce((s, p) => s + p[i], 0) / all.length);
      const extent = Math.max(...all.map((p) => Math.hypot(p[0] - c[0], p[1] - c[1], p[2] - c[2])), 10);
      const one = shown[0].points.filter(valid) as number[][]; // spheres sized by one animal
      const o = [0, 1, 2].map((i) => one.reduce((s, p) => s + p[i], 0) / Math.max(one.length, 1));
      sphereScale = Math.max(...one.map((p) => Math.hypot(p[0] - o[0], p[1] - o[1], p[2] - o[2])), 10) / 25;
      animals.forEach((a) => a.spheres.forEach((s) => s.scale.setScalar(sphereScale)));
      controls.target.set(c[0], c[1], c[2]);
      camera.position.set(c[0] + 3 * extent, c[1] - 3 * extent, c[2] + 2 * extent);
      controls.update();
      framed = true;
    }
    if (shown.length) animal(shown.length - 1);
    animals.forEach((a, i) => {
      const points = shown[i]?.points;
      a.lines.visible = !!points;
      if (!points) {
        a.spheres.forEach((s) => (s.visible = false));
        return;
      }
      (a.lines.material as THREE.LineBasicMaterial).color.set(shown[i].color ?? SKELETON_COLOR);
      points.forEach((p, k) => {
        const ok = valid(p);
        a.spheres[k].visible = ok;
        if (ok) a.spheres[k].position.set(p[0]!, p[1]!, p[2]!);
      });
      pairs.forEach(([j, k], b) => {
        const p = points[j];
        const q = points[k];
        a.positions.set([p[0] ?? 0, p[1] ?? 0, p[2] ?? 0, q[0] ?? 0, q[1] ?? 0, q[2] ?? 0], b * 6);
      });
      a.geometry.attributes.position.needsUpdate = true;
    });
    status.textContent = `frame ${frame}`;
    element.dataset.frame = String(frame);
    element.dataset.animals = String(shown.length);
    render();
  }

  return {
    element,
    show,
    destroy() {
      controls.dispose();
      renderer.dispose();
    },
  };
}
