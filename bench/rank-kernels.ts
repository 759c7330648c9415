/** Compares the dot-product kernels: JS blocked, ONNX Runtime Gemm, tfjs-wasm matMul. */
import { dotBlock } from "../lib/rank/kernel";
import { OnnxDotProduct } from "../lib/rank/onnx-gemm";

function rand(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.random() - 0.5;
  return a;
}
async function time(label: string, f: () => unknown | Promise<unknown>, reps = 3) {
  await f();
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) await f();
  const ms = (performance.now() - t0) / reps;
  console.log(`${label}: ${ms.toFixed(1)} ms`);
  return ms;
}
(async () => {
  const N = Number(process.env.N ?? 100000);
  const D = 1280;
  const db = rand(N * D);
  for (const nq of [1, 64]) {
    const q = rand(nq * D);
    const out = new Float32Array(nq * N);
    await time(`js   nq=${nq}`, () => dotBlock(q, nq, db, N, D, out), nq === 1 ? 3 : 1);
    for (const threads of [1, 2]) {
      const o = await OnnxDotProduct.create(D, { threads });
      await time(`onnx nq=${nq} t=${threads}`, () => o.dots(q, nq, db, N));
      await o.dispose();
    }
  }
  if (process.env.TFJS) {
    const tf = require("@tensorflow/tfjs");
    require("@tensorflow/tfjs-backend-wasm");
    await tf.setBackend("wasm");
    await tf.ready();
    const dbt = tf.tensor2d(db, [N, D]);
    for (const nq of [1, 64]) {
      const qt = tf.tensor2d(rand(nq * D), [nq, D]);
      await time(`tfjs-wasm nq=${nq}`, () => {
        const r = tf.matMul(qt, dbt, false, true);
        r.dataSync();
        r.dispose();
      });
    }
  }
})();
