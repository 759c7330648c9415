/** "center": subtract the database's column mean. */
import { base64ToF32, f32ToBase64 } from "../matrix";
import { applyCenter, fitCenter, type CenterState } from "../normalize";
import type { Step } from "./types";

export const center: Step<true, CenterState> = {
  name: "center",
  optionsOf: (spec) => (spec === "center" ? true : undefined),
  fit: (m) => fitCenter(m),
  transform: (m, s) => applyCenter(m, s),
  toJSON: (s) => ({ kind: "center", mean: f32ToBase64(s.mean) }),
  fromJSON: (j) => ({ kind: "center", mean: base64ToF32(String(j.mean)) }),
};
