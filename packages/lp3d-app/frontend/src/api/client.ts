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
export type Labels = S["LabelsOut"];
export type FrameSummary = S["FrameSummaryOut"];
export type LabelFrame = S["LabelFrameOut"];
export type Guide = S["GuideOut"];
export type Points = S["SaveLabelsRequest"]["points"];
export type ExtractRequest = S["ExtractRequest"];
export type ModelOptions = S["ModelOptionsOut"];
export type ModelForm = S["ModelForm"];
export type ConfigCheck = S["ConfigOut"];
export type TrainRequest = S["TrainRequest"];
export type PredictRequest = S["PredictRequest"];
export type DistillRequest = S["DistillRequest"];
export type RunDetail = S["RunDetailOut"];
export type Compare = S["CompareOut"];
export type Distillation = S["DistillationOut"];
export type CreateProjectRequest = S["CreateProjectRequest"];

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

const json = (method: string, body: unknown): RequestInit => ({ method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });

/** Uploads a file as the request's body (PUT), reporting the bytes sent; resolves with the JSON answer. */
function upload<T>(path: string, file: Blob, onProgress?: (sent: number, total: number) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", path);
    xhr.withCredentials = true;
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.upload.onprogress = (e) => onProgress?.(e.loaded, e.total);
    xhr.onload = () => {
      let body: { error?: string } | null = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        /* not JSON */
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body as T);
      else reject(new ApiError(xhr.status, body?.error ?? `${xhr.status} ${xhr.statusText}`));
    };
    xhr.onerror = () => reject(new ApiError(0, "the upload failed: the server cannot be reached"));
    xhr.send(file);
  });
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
  series: (source: string, keypoint: string, start: number, stop: number, width: number, members = false, individual: string | null = null) =>
    call<Series>(`api/sources/${enc(source)}/series${query({ keypoint, start, stop, width, members, individual })}`),
  statistics: (source: string, individual: string | null = null) => call<Statistics>(`api/sources/${enc(source)}/statistics${query({ individual })}`),
  errors: () => call<Errors>("api/diagnostics/errors"),
  jobs: () => call<Job[]>("api/jobs"),
  job: (id: string) => call<Job>(`api/jobs/${enc(id)}`),
  smooth: (request: SmoothRequest) =>
    call<Job>("api/jobs/smooth", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(request) }),
  cancel: (id: string) => call<Job>(`api/jobs/${enc(id)}`, { method: "DELETE" }),
  log: (id: string, offset = 0) => call<JobLog>(`api/jobs/${enc(id)}/log${query({ offset })}`),
  events: (id: string) => new EventSource(`api/jobs/${enc(id)}/events`),
  // project set-up
  createProject: (request: CreateProjectRequest) => call<Project>("api/project", json("POST", request)),
  setSkeleton: (bones: [string, string][]) => call<Project>("api/project/skeleton", json("PUT", { bones })),
  uploadVideo: (session: string, view: string, file: File, onProgress?: (sent: number, total: number) => void, overwrite = false) =>
    upload<Job>(`api/sessions/${enc(session)}/videos/${enc(view)}${query({ filename: file.name, overwrite })}`, file, onProgress),
  uploadCalibration: (session: string, file: File) => upload<S["CalibrationOut"]>(`api/sessions/${enc(session)}/calibration`, file),
  // labels
  labels: () => call<Labels>("api/labels"),
  labelFrame: (id: string) => call<LabelFrame>(`api/labels/${enc(id)}`),
  labelImageUrl: (id: string, view: string) => `api/labels/${enc(id)}/image/${enc(view)}`,
  saveLabels: (id: string, points: Points) => call<FrameSummary>(`api/labels/${enc(id)}`, json("PUT", { points })),
  saveDraft: (id: string, draft: Record<string, unknown>) => call<{ saved: number }>(`api/labels/${enc(id)}/draft`, json("PUT", { draft })),
  deleteDraft: (id: string) => fetch(`api/labels/${enc(id)}/draft`, { method: "DELETE", credentials: "same-origin" }),
  guide: (id: string, points: Points, keypoint: string | null) => call<Guide>(`api/labels/${enc(id)}/guide`, json("POST", { points, keypoint })),
  extract: (request: ExtractRequest) => call<Job>("api/jobs/extract", json("POST", request)),
  // models
  modelOptions: () => call<ModelOptions>("api/models/options"),
  checkConfig: (form: ModelForm) => call<ConfigCheck>("api/models/config", json("POST", form)),
  train: (request: TrainRequest) => call<Job>("api/jobs/train", json("POST", request)),
  predict: (request: PredictRequest) => call<Job>("api/jobs/predict", json("POST", request)),
  evaluate: (runs: string[]) => call<Job>("api/jobs/evaluate", json("POST", { runs })),
  distill: (request: DistillRequest) => call<Job>("api/jobs/distill", json("POST", request)),
  run: (id: string) => call<RunDetail>(`api/runs/${enc(id)}`),
  compare: (runs: string[]) => call<Compare>(`api/runs/compare${query({ runs: runs.join(",") })}`),
  distillations: () => call<string[]>("api/distillations"),
  distillation: (name: string) => call<Distillation>(`api/distillations/${enc(name)}`),
  distillationImageUrl: (name: string, index: number, view: string) => `api/distillations/${enc(name)}/image/${index}/${enc(view)}`,
};
