/** Jobs as rows: what runs, its progress with the time left, cancel, its log, its one-line error, and
 * what to do with its result (the page says). Running jobs are followed by server-sent events. */
import { api, type Job } from "../api/client";
import { h } from "../lib/dom";
import { formatDuration, timeLeft, type ProgressSample } from "../lib/progress";

export interface JobListOptions {
  /** The kinds shown (default every kind). */
  kinds?: string[];
  /** What the row of a job offers besides cancel and log (e.g. "Open in viewer"). */
  actions?: (job: Job) => Node[];
  /** Called each time a job changes (state or progress). */
  changed?: (job: Job) => void;
}

export function JobList(options: JobListOptions = {}) {
  const element = h("div", { class: "jobs", "data-testid": "jobs" });
  const streams = new Map<string, EventSource>();
  const samples = new Map<string, ProgressSample[]>();
  const shown = (job: Job) => !options.kinds || options.kinds.includes(job.kind);

  function remember(job: Job): string {
    const list = samples.get(job.id) ?? [];
    const last = list[list.length - 1];
    if (!last || last.done !== job.progress_done || last.description !== job.progress_description)
      list.push({ t: Date.now(), done: job.progress_done, total: job.progress_total ?? null, description: job.progress_description });
    samples.set(job.id, list.slice(-200));
    const left = job.state === "running" ? timeLeft(list) : null;
    return left === null ? "" : ` · about ${formatDuration(left)} left`;
  }

  function row(job: Job): HTMLElement {
    const total = job.progress_total;
    const bar = h("progress", { max: total ?? 1, value: total ? job.progress_done : job.state === "running" ? undefined : 1 });
    const counts = total ? ` ${job.progress_done.toFixed(0)} / ${total.toFixed(0)}` : "";
    const item = h(
      "div",
      { class: `job ${job.state}`, "data-testid": `job-${job.id}`, "data-state": job.state, "data-kind": job.kind },
      h("b", { text: job.label }),
      h("span", { class: "state", text: ` ${job.state}${job.device === "gpu" ? " (GPU)" : ""} ` }),
      bar,
      h("span", { class: "hint", "data-testid": "job-progress", text: ` ${job.progress_description}${counts}${remember(job)}` }),
    );
    if (job.error) item.append(h("p", { class: "error", text: job.error }));
    if (job.state === "running") {
      const cancel = h("button", { text: "Cancel", "data-testid": "job-cancel" });
      cancel.onclick = () => api.cancel(job.id).then(refresh);
      item.append(cancel);
    }
    for (const node of options.actions?.(job) ?? []) item.append(node);
    const logButton = h("button", { text: "Log" });
    const logView = h("pre", { class: "log" });
    logButton.onclick = async () => {
      logView.textContent = logView.textContent ? "" : (await api.log(job.id)).text || "(empty)";
    };
    item.append(logButton, logView);
    return item;
  }

  function put(job: Job): void {
    if (!shown(job)) return;
    const old = element.querySelector(`[data-testid="job-${job.id}"]`);
    const fresh = row(job);
    if (old) {
      const log = old.querySelector("pre.log");
      if (log?.textContent) fresh.querySelector("pre.log")!.textContent = log.textContent;
      old.replaceWith(fresh);
    } else element.prepend(fresh);
    options.changed?.(job);
  }

  function follow(job: Job): void {
    put(job);
    if (job.state !== "running" || streams.has(job.id)) return;
    const events = api.events(job.id);
    streams.set(job.id, events);
    events.onmessage = (e) => {
      const updated = JSON.parse(e.data) as Job;
      put(updated);
      if (updated.state !== "running") {
        events.close();
        streams.delete(job.id);
      }
    };
  }

  async function refresh(): Promise<void> {
    const list = (await api.jobs()).filter(shown);
    element.replaceChildren(...list.map(row));
    list.filter((j) => j.state === "running").forEach(follow);
  }

  return {
    element,
    refresh,
    follow,
    destroy() {
      streams.forEach((s) => s.close());
      streams.clear();
    },
  };
}

/** "Open in viewer" for a finished job whose result names a session (smoothing, prediction). */
export function openInViewer(job: Job): Node[] {
  const session = job.state === "done" && job.result ? String(job.result.session ?? "") : "";
  if (!session) return [];
  const open = h("a", { class: "button", href: "#", "data-testid": "open-result", text: "Open in viewer" });
  open.onclick = async (e) => {
    e.preventDefault();
    const p = await api.refresh();
    const found = p.sessions.find((x) => x.name === session);
    if (found) location.hash = `#/viewer/${encodeURIComponent(found.id)}`;
  };
  return [open];
}
