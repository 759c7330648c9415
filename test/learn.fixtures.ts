/** Synthetic features for the learn tests: clustered Gaussians (class means in a few dimensions, noise everywhere). */
import { makeFingerprint } from "../lib/fingerprint";
import { seededRandom } from "../lib/learn/train";
import type { FeatureMatrix } from "../lib/types";

export interface Clusters {
  m: FeatureMatrix;
  labels: string[];
  labelMap: Map<string, string>;
}

/**
 * `nPerClass` x `classes` rows of `dim` values; class means (drawn from a fixed seed, so train and test sets
 * made with different `seed`s share them) occupy the first `signalDims` dimensions; noise of sd `noise` there
 * and `distractorNoise` (default `noise`) in the other dimensions, which carry no class information.
 */
export function clusters(nPerClass: number, classes: number, dim: number, seed: number, options: { signalDims?: number; noise?: number; distractorNoise?: number; backbone?: string } = {}): Clusters {
  const signalDims = options.signalDims ?? 8;
  const noise = options.noise ?? 1;
  const distractor = options.distractorNoise ?? noise;
  const rand = seededRandom(seed);
  const meanRand = seededRandom(999);
  const gauss = (r: () => number) => Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
  const means = Array.from({ length: classes }, () => Array.from({ length: dim }, (_, k) => (k < signalDims ? 1.5 * gauss(meanRand) : 0)));
  const n = nPerClass * classes;
  const data = new Float32Array(n * dim);
  const ids: string[] = [];
  const labels: string[] = [];
  for (let i = 0; i < n; i++) {
    const c = i % classes;
    ids.push(`s${seed}/img${i}.png`);
    labels.push(`class${c}`);
    for (let k = 0; k < dim; k++) data[i * dim + k] = means[c][k] + (k < signalDims ? noise : distractor) * gauss(rand);
  }
  const m: FeatureMatrix = { ids, dim, data, fingerprint: makeFingerprint({ backbone: options.backbone ?? "synthetic:clusters", extra: { dim } }) };
  return { m, labels, labelMap: new Map(ids.map((id, i) => [id, labels[i]])) };
}
