/** "l2": each row divided by its Euclidean norm; nothing to learn. */
import { l2normalize } from "../normalize";
import type { Step } from "./types";

export const l2: Step<true, { kind: "l2" }> = {
  name: "l2",
  optionsOf: (spec) => (spec === "l2" ? true : undefined),
  fit: () => ({ kind: "l2" }),
  transform: (m) => l2normalize(m),
  toJSON: () => ({ kind: "l2" }),
  fromJSON: () => ({ kind: "l2" }),
};
