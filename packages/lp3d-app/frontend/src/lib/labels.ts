/** A frame's labels while a labeler edits them: a mark per view and keypoint (a position, or "not
 * visible"), undo and redo, what to save, the draft kept against crashes, and which keypoint comes next. */

export type XY = [number, number];
/** Where a position came from: saved labels, a model's prefill, a click, or an accepted suggestion. */
export type Origin = "saved" | "prefill" | "click" | "suggestion";
export type Mark = { x: number; y: number; origin: Origin } | "hidden";
/** `{view: {keypoint: mark}}`; a keypoint without a mark in a view is not placed there yet. */
export type Marks = Record<string, Record<string, Mark>>;
/** `{view: {keypoint: [x, y] or null}}` as the server takes and gives labels. */
export type PointsIn = Record<string, Record<string, XY | null | undefined>>;

export const DRAFT_VERSION = 1;

export interface Draft {
  version: number;
  updated: number;
  marks: Marks;
}

function copy(marks: Marks): Marks {
  return JSON.parse(JSON.stringify(marks)) as Marks;
}

/** Marks from the server's points (`null`: no mark). */
export function marksFromPoints(points: PointsIn | null | undefined, origin: Origin): Marks {
  const out: Marks = {};
  for (const [view, byKeypoint] of Object.entries(points ?? {})) {
    for (const [keypoint, xy] of Object.entries(byKeypoint ?? {})) {
      if (!xy) continue;
      (out[view] ??= {})[keypoint] = { x: xy[0], y: xy[1], origin };
    }
  }
  return out;
}

/** A position kept inside a `width` x `height` image (pixel centres at integers: -0.5 .. width - 0.5). */
export function clampToImage(x: number, y: number, width: number, height: number): XY {
  return [Math.min(Math.max(x, -0.5), width - 0.5), Math.min(Math.max(y, -0.5), height - 0.5)];
}

export class LabelState {
  marks: Marks;
  dirty = false;
  private undoStack: Marks[] = [];
  private redoStack: Marks[] = [];
  private dragging = false;

  constructor(
    public views: string[],
    public keypoints: string[],
    initial: Marks = {},
  ) {
    this.marks = copy(initial);
  }

  get(view: string, keypoint: string): Mark | undefined {
    return this.marks[view]?.[keypoint];
  }

  position(view: string, keypoint: string): XY | null {
    const m = this.get(view, keypoint);
    return m && m !== "hidden" ? [m.x, m.y] : null;
  }

  private change(update: () => void): void {
    if (!this.dragging) {
      this.undoStack.push(copy(this.marks));
      this.redoStack = [];
    }
    update();
    this.dirty = true;
  }

  private set(view: string, keypoint: string, mark: Mark | undefined): void {
    const byKeypoint = (this.marks[view] ??= {});
    if (mark === undefined) delete byKeypoint[keypoint];
    else byKeypoint[keypoint] = mark;
  }

  place(view: string, keypoint: string, x: number, y: number, origin: Origin = "click"): void {
    this.change(() => this.set(view, keypoint, { x, y, origin }));
  }

  /** A drag is one step of undo: `beginDrag`, any number of `move`, `endDrag`. */
  beginDrag(): void {
    this.undoStack.push(copy(this.marks));
    this.redoStack = [];
    this.dragging = true;
  }

  move(view: string, keypoint: string, x: number, y: number): void {
    this.change(() => this.set(view, keypoint, { x, y, origin: "click" }));
  }

  endDrag(): void {
    this.dragging = false;
  }

  /** Marks a keypoint not visible in a view, or, when it is marked so, not placed. */
  toggleHidden(view: string, keypoint: string): void {
    this.change(() => this.set(view, keypoint, this.get(view, keypoint) === "hidden" ? undefined : "hidden"));
  }

  clear(view: string, keypoint: string): void {
    if (this.get(view, keypoint) === undefined) return;
    this.change(() => this.set(view, keypoint, undefined));
  }

  /** Accepts suggested positions `{keypoint: [x, y]}` in a view (only where nothing is marked there). */
  accept(view: string, suggestions: Record<string, XY>): number {
    const free = Object.entries(suggestions).filter(([k]) => this.get(view, k) === undefined && this.keypoints.includes(k));
    if (!free.length) return 0;
    this.change(() => free.forEach(([k, [x, y]]) => this.set(view, k, { x, y, origin: "suggestion" })));
    return free.length;
  }

  /** Every prefilled mark becomes the labeler's own (checked); returns how many. */
  confirmPrefill(): number {
    const prefilled = this.count("prefill");
    if (!prefilled) return 0;
    this.change(() => {
      for (const byKeypoint of Object.values(this.marks))
        for (const mark of Object.values(byKeypoint)) if (mark !== "hidden" && mark.origin === "prefill") mark.origin = "click";
    });
    return prefilled;
  }

  get canUndo(): boolean {
    return this.undoStack.length > 0;
  }

  get canRedo(): boolean {
    return this.redoStack.length > 0;
  }

  undo(): boolean {
    return this.restore(this.undoStack, this.redoStack);
  }

  redo(): boolean {
    return this.restore(this.redoStack, this.undoStack);
  }

  /** Undo and redo, mirrored: the marks on top of `from` come back, the current ones go onto `to`. */
  private restore(from: Marks[], to: Marks[]): boolean {
    const marks = from.pop();
    if (!marks) return false;
    to.push(copy(this.marks));
    this.marks = marks;
    this.dirty = true;
    return true;
  }

  /** Placed positions `{view: {keypoint: [x, y] or null}}` of every view and keypoint (what is saved). */
  points(): Record<string, Record<string, XY | null>> {
    const out: Record<string, Record<string, XY | null>> = {};
    for (const view of this.views) {
      out[view] = {};
      for (const keypoint of this.keypoints) out[view][keypoint] = this.position(view, keypoint);
    }
    return out;
  }

  /** Marks of an origin (or every placed position without one; "hidden" counts the not-visible marks). */
  count(origin?: Origin | "hidden"): number {
    let n = 0;
    for (const byKeypoint of Object.values(this.marks))
      for (const mark of Object.values(byKeypoint)) {
        if (origin === "hidden") n += mark === "hidden" ? 1 : 0;
        else if (mark !== "hidden" && (origin === undefined || mark.origin === origin)) n += 1;
      }
    return n;
  }

  /** The first keypoint after `from` (wrapping) with no mark in `view`; null when every one has one. */
  nextKeypoint(view: string, from: string): string | null {
    const start = this.keypoints.indexOf(from);
    for (let i = 1; i <= this.keypoints.length; i++) {
      const k = this.keypoints[(start + i) % this.keypoints.length];
      if (this.get(view, k) === undefined) return k;
    }
    return null;
  }

  /** The keypoint whose mark in `view` is nearest (x, y) within `radius` image pixels, or null. */
  nearest(view: string, x: number, y: number, radius: number): string | null {
    let best: string | null = null;
    let bestD = radius;
    for (const [k, mark] of Object.entries(this.marks[view] ?? {})) {
      if (mark === "hidden") continue;
      const d = Math.hypot(mark.x - x, mark.y - y);
      if (d <= bestD) {
        best = k;
        bestD = d;
      }
    }
    return best;
  }

  toDraft(now = Date.now()): Draft {
    return { version: DRAFT_VERSION, updated: now, marks: copy(this.marks) };
  }
}

/** A draft the page wrote (server or browser storage), or null for anything else. */
export function readDraft(value: unknown): Draft | null {
  if (!value || typeof value !== "object") return null;
  const d = value as Partial<Draft>;
  if (d.version !== DRAFT_VERSION || typeof d.updated !== "number" || !d.marks || typeof d.marks !== "object") return null;
  return d as Draft;
}

/** The newer of two drafts (either may be null). */
export function newerDraft(a: Draft | null, b: Draft | null): Draft | null {
  if (!a) return b;
  if (!b) return a;
  return b.updated > a.updated ? b : a;
}

/** Colour of a reprojection error: green under 2 px, amber under 5 px, red beyond. */
export function errorColor(pixels: number): string {
  return pixels < 2 ? "#69f0ae" : pixels < 5 ? "#ffd740" : "#ff5252";
}
