/** The typed API client: types come from the server's OpenAPI schema (schema.d.ts, generated). */
import type { components } from "./schema";

type S = components["schemas"];
export type Project = S["ProjectOut"];
export type Session = S["SessionOut"];
export type Source = S["SourceOut"];
export type Frame = S["FrameOut"];
export type SourceFrame = S["SourceFrameOut"];
export type Series = S["SeriesOut"];
export type Statistics = S["StatisticsOut"];
export type Errors = S["ErrorsOut"];
export type Job = S["JobOut"];
export type JobLog = S["JobLogOut"];
export type SmoothRequest = S["SmoothRequest"];

export class ApiError extends Error {
  constructor(public status: number, message: string) {
    super(message);
  }
}

const enc = encodeURIComponent;

async function call<T>(path: string, init?: RequestInit): Promise<T> {
  const response = await fetch(path, { credentials: "same-origin", ...init });
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      message = (await response.json()).error ?? message;
    } catch {
      /* not JSON */
    }
    throw new ApiError(response.status, message);
  }
  return (await response.json()) as T;
}

function query(params: Record<string, string | number | boolean | undefined | null>): string {
  const parts = Object.entries(params)
    .filter(([, v]) => v !== undefined && v !== null && v !== "")
    .map(([k, v]) => `${k}=${enc(String(v))}`);
  return parts.length ? `?${parts.join("&")}` : "";
}

export const api = {
  project: () => call<Project>("api/project"),
  refresh: () => call<Project>("api/project/refresh", { method: "POST" }),
  session: (id: string) => call<Session>(`api/sessions/${enc(id)}`),
  frame: (session: string, frame: number, sources: string[]) =>
    call<Frame>(`api/sessions/${enc(session)}/frames/${frame}${query({ sources: sources.join(",") })}`),
  videoUrl: (session: string, view: string, frame: number) => `api/sessions/${enc(session)}/video/${enc(view)}/${frame}`,
  series: (source: string, keypoint: string, start: number, stop: number, width: number, members = false) =>
    call<Series>(`api/sources/${enc(source)}/series${query({ keypoint, start, stop, width, members })}`),
  statistics: (source: string) => call<Statistics>(`api/sources/${enc(source)}/statistics`),
  errors: () => call<Errors>("api/diagnostics/errors"),
  jobs: () => call<Job[]>("api/jobs"),
  job: (id: string) => call<Job>(`api/jobs/${enc(id)}`),
  smooth: (request: SmoothRequest) =>
    call<Job>("api/jobs/smooth", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(request) }),
  cancel: (id: string) => call<Job>(`api/jobs/${enc(id)}`, { method: "DELETE" }),
  log: (id: string, offset = 0) => call<JobLog>(`api/jobs/${enc(id)}/log${query({ offset })}`),
  events: (id: string) => new EventSource(`api/jobs/${enc(id)}/events`),
};
