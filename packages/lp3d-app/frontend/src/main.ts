/** The app's shell: navigation and a hash router (#/project, #/frames, #/label?frame=<id>, #/models,
 * #/viewer/<session>?frame=N, #/smoothing, #/diagnostics). */
import "./style.css";
import { h, type Page } from "./lib/dom";
import { DiagnosticsPage } from "./pages/DiagnosticsPage";
import { FramesPage } from "./pages/FramesPage";
import { LabelPage } from "./pages/LabelPage";
import { ModelsPage } from "./pages/ModelsPage";
import { ProjectPage } from "./pages/ProjectPage";
import { SmoothingPage } from "./pages/SmoothingPage";
import { ViewerPage } from "./pages/ViewerPage";

const nav = document.getElementById("nav")!;
const main = document.getElementById("page")!;
let current: Page | null = null;

nav.append(
  h("b", { class: "brand", text: "lp3d" }),
  h("a", { href: "#/project", text: "Project" }),
  h("a", { href: "#/frames", text: "Frames" }),
  h("a", { href: "#/label", text: "Label" }),
  h("a", { href: "#/models", text: "Models" }),
  h("a", { href: "#/smoothing", text: "Smoothing" }),
  h("a", { href: "#/diagnostics", text: "Diagnostics" }),
);

function route(): void {
  const [path, search] = (location.hash.slice(1) || "/project").split("?");
  const params = new URLSearchParams(search ?? "");
  const parts = path.split("/").filter(Boolean);
  if (current && parts[0] === "viewer" && main.querySelector(`[data-session="${parts[1]}"]`) && params.has("frame")) return; // the viewer's own URL updates
  current?.destroy();
  if (parts[0] === "viewer" && parts[1]) {
    current = ViewerPage(decodeURIComponent(parts[1]), Number(params.get("frame") ?? 0));
    current.element.dataset.session = parts[1];
  } else if (parts[0] === "smoothing") current = SmoothingPage();
  else if (parts[0] === "frames") current = FramesPage();
  else if (parts[0] === "label") current = LabelPage(params.get("frame"));
  else if (parts[0] === "models") current = ModelsPage();
  else if (parts[0] === "diagnostics") current = DiagnosticsPage();
  else current = ProjectPage();
  main.replaceChildren(current.element);
  nav.querySelectorAll("a").forEach((a) => a.classList.toggle("active", a.getAttribute("href") === `#/${parts[0] ?? "project"}`));
}

window.addEventListener("hashchange", route);
route();
