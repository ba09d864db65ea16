import { describe, expect, it } from "vitest";
import { bucketSize, decimateMinMax, decimatedTime } from "./decimate";
import { clampFrame, droppedFrames, formatTime, imageSize, parseFrame, playbackFrame, stepFrame } from "./frames";
import { hsvToRgb, individualColors, keypointColors, rampColor, withAlpha } from "./colors";

describe("decimation", () => {
  it("keeps every value when a column is one frame", () => {
    expect(decimateMinMax([1, NaN, 3], 1)).toEqual([1, null, 3]);
  });
  it("gives the min then the max of each column, ignoring NaN", () => {
    expect(decimateMinMax([3, 1, 2, 9, NaN, 5, NaN], 3)).toEqual([1, 3, 5, 9, null, null]);
  });
  it("keeps a one-frame spike", () => {
    const v = new Array(1000).fill(0);
    v[537] = 100;
    const d = decimateMinMax(v, 100);
    expect(Math.max(...(d as number[]))).toBe(100);
    expect(d.length).toBe(20);
  });
  it("sizes columns so that n frames fit the width", () => {
    expect(bucketSize(100, 60)).toBe(1);
    expect(bucketSize(100000, 1500)).toBe(67);
    expect(() => bucketSize(10, 0)).toThrow();
  });
  it("matches the server's time axis", () => {
    expect(decimatedTime(0, 10, 4)).toEqual([0, 1.5, 4, 5.5, 8, 9.5]);
    expect(decimatedTime(5, 8, 1)).toEqual([5, 6, 7]);
  });
});

describe("frames", () => {
  it("clamps and steps inside the session", () => {
    expect(clampFrame(-3, 100)).toBe(0);
    expect(clampFrame(250, 100)).toBe(99);
    expect(stepFrame(95, 10, 100)).toBe(99);
    expect(stepFrame(5, -10, 100)).toBe(0);
  });
  it("formats and parses times", () => {
    expect(formatTime(90, 30)).toBe("0:03.000");
    expect(formatTime(3615, 30)).toBe("2:00.500");
    expect(parseFrame("42", 30, 100)).toBe(42);
    expect(parseFrame("0:02", 30, 100)).toBe(60);
    expect(parseFrame("1.5s", 30, 100)).toBe(45);
    expect(parseFrame("500", 30, 100)).toBeNull();
    expect(parseFrame("abc", 30, 100)).toBeNull();
  });
  it("plays at fps x speed and stops at the end", () => {
    expect(playbackFrame(10, 1000, 2000, 30, 1, 1000)).toBe(40);
    expect(playbackFrame(10, 1000, 2000, 30, 0.5, 1000)).toBe(25);
    expect(playbackFrame(990, 0, 10000, 30, 1, 1000)).toBe(999);
    expect(droppedFrames(10, 11)).toBe(0);
    expect(droppedFrames(10, 14)).toBe(3);
  });
});

describe("colours", () => {
  it("spreads keypoints around the hue circle, all distinct", () => {
    const c = keypointColors(20);
    expect(new Set(c).size).toBe(20);
    expect(c[0]).toMatch(/^#[0-9a-f]{6}$/);
    expect(hsvToRgb(0, 1, 1)).toEqual([255, 0, 0]);
    expect(hsvToRgb(1 / 3, 1, 1)).toEqual([0, 255, 0]);
  });
  it("gives each animal its own colour, the first the skeleton's", () => {
    for (const n of [1, 2, 5, 9]) expect(new Set(individualColors(n)).size).toBe(n);
    expect(individualColors(2)).toEqual(["#ffeb3b", "#e040fb"]);
    expect(individualColors(9).every((c) => /^#[0-9a-f]{6}$/.test(c))).toBe(true);
  });
  it("maps values on a ramp, clamped", () => {
    expect(rampColor(0, 0, 1)).toBe("#313695");
    expect(rampColor(5, 0, 1)).toBe("#a50026");
    expect(withAlpha("#ff0080", 0.5)).toBe("rgba(255,0,128,0.5)");
  });
});

describe("image sizes", () => {
  const session = { videos: [{ view: "top", width: 1280, height: 1024 }], image_sizes: { top: [1, 1] as [number, number], side: [800, 600] as [number, number] } };
  it("is the video's, else the calibration's, else 640 x 512", () => {
    expect(imageSize(session, "top")).toEqual([1280, 1024]);
    expect(imageSize(session, "side")).toEqual([800, 600]);
    expect(imageSize(session, "front")).toEqual([640, 512]);
  });
});
