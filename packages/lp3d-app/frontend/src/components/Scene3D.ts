/** The smoothed skeleton in 3D at the cursor's frame: rotate (drag), zoom (wheel). */
import * as THREE from "three";
import { OrbitControls } from "three/examples/jsm/controls/OrbitControls.js";
import { h } from "../lib/dom";

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
  const spheres = keypoints.map((_, k) => {
    const mesh = new THREE.Mesh(new THREE.SphereGeometry(1, 12, 8), new THREE.MeshBasicMaterial({ color: colors[k] }));
    scene.add(mesh);
    return mesh;
  });
  const pairs = skeleton.map(([a, b]) => [keypoints.indexOf(a), keypoints.indexOf(b)]).filter(([a, b]) => a >= 0 && b >= 0);
  const lineGeometry = new THREE.BufferGeometry();
  const linePositions = new Float32Array(pairs.length * 6);
  lineGeometry.setAttribute("position", new THREE.BufferAttribute(linePositions, 3));
  scene.add(new THREE.LineSegments(lineGeometry, new THREE.LineBasicMaterial({ color: 0xffeb3b })));
  let framed = false;
  const render = () => renderer.render(scene, camera);
  controls.addEventListener("change", render);

  function show(points: (number | null)[][] | null | undefined, frame: number) {
    if (!points) {
      status.textContent = "No 3D result for this source (smooth with a calibration).";
      spheres.forEach((s) => (s.visible = false));
      render();
      return;
    }
    const valid = points.filter((p) => p[0] !== null && p[1] !== null && p[2] !== null) as number[][];
    if (!framed && valid.length) {
      const c = [0, 1, 2].map((i) => valid.reduce((s, p) => s + p[i], 0) / valid.length);
      const extent = Math.max(...valid.map((p) => Math.hypot(p[0] - c[0], p[1] - c[1], p[2] - c[2])), 10);
      spheres.forEach((s) => s.scale.setScalar(extent / 25));
      controls.target.set(c[0], c[1], c[2]);
      camera.position.set(c[0] + 3 * extent, c[1] - 3 * extent, c[2] + 2 * extent);
      controls.update();
      framed = true;
    }
    points.forEach((p, k) => {
      const ok = p[0] !== null && p[1] !== null && p[2] !== null;
      spheres[k].visible = ok;
      if (ok) spheres[k].position.set(p[0]!, p[1]!, p[2]!);
    });
    pairs.forEach(([a, b], i) => {
      const p = points[a];
      const q = points[b];
      linePositions.set([p[0] ?? 0, p[1] ?? 0, p[2] ?? 0, q[0] ?? 0, q[1] ?? 0, q[2] ?? 0], i * 6);
    });
    lineGeometry.attributes.position.needsUpdate = true;
    status.textContent = `frame ${frame}`;
    element.dataset.frame = String(frame);
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
