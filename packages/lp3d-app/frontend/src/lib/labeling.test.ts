import { describe, expect, it } from "vitest";
import { LabelState, clampToImage, errorColor, marksFromPoints, newerDraft, readDraft } from "./labels";
import { formatDuration, timeLeft } from "./progress";
import { fit, pan, toImage, toScreen, zoomAt } from "./viewport";

const views = ["top", "side"];
const keypoints = ["nose", "ear", "tail"];

describe("label state", () => {
  it("places, moves as one undo step, hides, clears, and undoes and redoes each", () => {
    const s = new LabelState(views, keypoints);
    s.place("top", "nose", 10, 20);
    expect(s.position("top", "nose")).toEqual([10, 20]);
    s.beginDrag();
    s.move("top", "nose", 11, 21);
    s.move("top", "nose", 12, 22);
    s.endDrag();
    s.toggleHidden("side", "ear");
    expect(s.get("side", "ear")).toBe("hidden");
    expect(s.undo()).toBe(true); // the hidden mark
    expect(s.get("side", "ear")).toBeUndefined();
    expect(s.undo()).toBe(true); // the whole drag
    expect(s.position("top", "nose")).toEqual([10, 20]);
    expect(s.redo()).toBe(true);
    expect(s.position("top", "nose")).toEqual([12, 22]);
    s.clear("top", "nose");
    expect(s.position("top", "nose")).toBeNull();
    expect(s.canRedo).toBe(false); // a new change forgets what was undone
    expect(s.dirty).toBe(true);
  });
  it("says which keypoint comes next in a view, and which mark is nearest a click", () => {
    const s = new LabelState(views, keypoints);
    s.place("top", "ear", 5, 5);
    expect(s.nextKeypoint("top", "nose")).toBe("tail");
    expect(s.nextKeypoint("top", "tail")).toBe("nose");
    s.place("top", "nose", 1, 1);
    s.place("top", "tail", 50, 50);
    expect(s.nextKeypoint("top", "nose")).toBeNull();
    expect(s.nearest("top", 5.5, 6, 2)).toBe("ear");
    expect(s.nearest("top", 30, 30, 2)).toBeNull();
  });
  it("accepts suggestions only where nothing is marked, and saves every view and keypoint", () => {
    const s = new LabelState(views, keypoints, marksFromPoints({ top: { nose: [1, 2], ear: null } }, "saved"));
    s.toggleHidden("side", "tail");
    expect(s.accept("side", { nose: [3, 4], tail: [9, 9], paw: [0, 0] })).toBe(1);
    expect(s.get("side", "nose")).toEqual({ x: 3, y: 4, origin: "suggestion" });
    expect(s.points()).toEqual({ top: { nose: [1, 2], ear: null, tail: null }, side: { nose: [3, 4], ear: null, tail: null } });
    expect(s.count()).toBe(2);
    expect(s.count("hidden")).toBe(1);
  });
  it("confirms prefilled marks, and keeps drafts by version and time", () => {
    const s = new LabelState(views, keypoints, marksFromPoints({ top: { nose: [1, 2], ear: [3, 3] } }, "prefill"));
    expect(s.count("prefill")).toBe(2);
    expect(s.confirmPrefill()).toBe(2);
    expect(s.count("prefill")).toBe(0);
    const draft = s.toDraft(1000);
    expect(readDraft(JSON.parse(JSON.stringify(draft)))).toEqual(draft);
    expect(readDraft({ version: 99, updated: 1, marks: {} })).toBeNull();
    expect(readDraft("nope")).toBeNull();
    expect(newerDraft(draft, { ...draft, updated: 2000 })?.updated).toBe(2000);
    expect(newerDraft(null, draft)).toBe(draft);
  });
  it("keeps positions inside the image and colours errors", () => {
    expect(clampToImage(-3, 200, 96, 80)).toEqual([-0.5, 79.5]);
    expect(errorColor(0.5)).toBe("#69f0ae");
    expect(errorColor(3)).toBe("#ffd740");
    expect(errorColor(9)).toBe("#ff5252");
  });
});

describe("viewport", () => {
  it("fits the image and maps pixel centres both ways", () => {
    const vp = fit(100, 50, 400, 400);
    expect(vp).toEqual({ scale: 4, ox: 0, oy: 100 });
    expect(toScreen(vp, 0, 0)).toEqual([2, 102]); // the centre of pixel 0
    expect(toImage(vp, ...toScreen(vp, 37.25, 12.5))).toEqual([37.25, 12.5]);
  });
  it("zooms about the cursor within limits, and pans", () => {
    const vp = fit(100, 100, 200, 200);
    const z = zoomAt(vp, 4, 50, 60, 1, 6);
    expect(z.scale).toBe(6); // 2 x 4 limited to 6
    expect(toImage(z, 50, 60)).toEqual(toImage(vp, 50, 60));
    expect(pan(z, 5, -5)).toEqual({ scale: 6, ox: z.ox + 5, oy: z.oy - 5 });
  });
});

describe("time left", () => {
  const sample = (t: number, done: number, total: number | null = 100, description = "training seed_0 (1 of 2)") => ({ t, done, total, description });
  it("is the rate since the first report of work, over what is left", () => {
    expect(timeLeft([sample(0, 0), sample(5000, 10), sample(15000, 30)])).toBeCloseTo(35);
    expect(timeLeft([sample(0, 0, null, "reading")])).toBeNull();
    expect(timeLeft([sample(0, 10)])).toBeNull();
    expect(timeLeft([sample(0, 10), sample(1000, 100)])).toBe(0);
  });
  it("follows members of one training, and starts again for another step", () => {
    expect(timeLeft([sample(0, 10), sample(1000, 60, 100, "training seed_1 (2 of 2)")])).toBeCloseTo(0.8);
    expect(timeLeft([sample(0, 10), sample(1000, 20, 50, "smoothing")])).toBeNull();
  });
  it("formats durations", () => {
    expect(formatDuration(12.4)).toBe("12 s");
    expect(formatDuration(190)).toBe("3 min 10 s");
    expect(formatDuration(3725)).toBe("1 h 02 min");
  });
});
