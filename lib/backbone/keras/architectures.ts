/**
 * Keras applications rebuilt with tf.layers, layer for layer and with Keras's exact layer names, so that
 * the weight files Keras publishes load by name and every cut point is named as in Keras
 * (`block4_pool`, `conv5_block3_out`, `out_relu`, ...).
 *
 * Sources followed: keras/applications/{vgg16,vgg19,resnet,mobilenet_v2}.py (TF 2.x Keras).
 * `widthScale` multiplies every channel count (tests use narrow networks); names and topology stay the same.
 * Layers are created with zero initializers: weights are always set afterwards (from .h5 or seeded random),
 * so paying for random initialisation of 140 M parameters would be wasted.
 */
import type * as tfTypes from "@tensorflow/tfjs";
import type { Tf } from "../tf";

export const KERAS_ARCHITECTURES = ["vgg16", "vgg19", "resnet50", "mobilenet_v2"] as const;
export type KerasArchitecture = (typeof KERAS_ARCHITECTURES)[number];

export interface ArchitectureOptions {
  /** Input [height, width]; default [224, 224]. With the top, VGG needs exactly 224 x 224. */
  inputSize?: [number, number];
  /** Add the ImageNet classifier (VGG: flatten, fc1, fc2, predictions; others: pooling + predictions). */
  includeTop?: boolean;
  /** Multiplies every channel count (default 1); for small test networks with the real layer names. */
  widthScale?: number;
  classes?: number;
}

/** Layers that only exist with the top, per architecture: cutting at one of them needs the top weights. */
export const TOP_LAYERS: Readonly<Record<KerasArchitecture, readonly string[]>> = Object.freeze({
  vgg16: ["flatten", "fc1", "fc2", "predictions"],
  vgg19: ["flatten", "fc1", "fc2", "predictions"],
  resnet50: ["avg_pool", "predictions"],
  mobilenet_v2: ["global_average_pooling2d", "predictions"],
});

type ST = tfTypes.SymbolicTensor;

function builder(tf: Tf, scale: number) {
  const ch = (c: number) => Math.max(1, Math.round(c * scale));
  const zeros = { kernelInitializer: "zeros", biasInitializer: "zeros" } as const;
  return {
    ch,
    conv(x: ST, filters: number, kernel: number, name: string, o: { strides?: number; padding?: "same" | "valid"; activation?: "relu"; useBias?: boolean } = {}): ST {
      return tf.layers
        .conv2d({ filters: ch(filters), kernelSize: kernel, strides: o.strides ?? 1, padding: o.padding ?? "valid", activation: o.activation, useBias: o.useBias ?? true, name, ...zeros })
        .apply(x) as ST;
    },
    bn(x: ST, name: string, epsilon: number): ST {
      return tf.layers.batchNormalization({ axis: 3, epsilon, momentum: 0.99, name }).apply(x) as ST;
    },
    relu(x: ST, name: string): ST {
      return tf.layers.activation({ activation: "relu", name }).apply(x) as ST;
    },
    relu6(x: ST, name: string): ST {
      return tf.layers.reLU({ maxValue: 6, name }).apply(x) as ST;
    },
    pad(x: ST, p: [[number, number], [number, number]], name: string): ST {
      return tf.layers.zeroPadding2d({ padding: p, name }).apply(x) as ST;
    },
    dense(x: ST, units: number, name: string, activation: "relu" | "softmax"): ST {
      return tf.layers.dense({ units, activation, name, ...zeros }).apply(x) as ST;
    },
  };
}

export function buildArchitecture(tf: Tf, arch: KerasArchitecture, options: ArchitectureOptions = {}): tfTypes.LayersModel {
  const [h, w] = options.inputSize ?? [224, 224];
  const input = tf.input({ shape: [h, w, 3], name: "input_1" });
  const b = builder(tf, options.widthScale ?? 1);
  const top = options.includeTop ?? false;
  const classes = options.classes ?? 1000;
  let out: ST;
  switch (arch) {
    case "vgg16":
    case "vgg19":
      out = vgg(tf, b, input, arch === "vgg16" ? [2, 2, 3, 3, 3] : [2, 2, 4, 4, 4], top, classes);
      break;
    case "resnet50":
      out = resnet50(tf, b, input, top, classes);
      break;
    case "mobilenet_v2":
      out = mobilenetV2(tf, b, input, top, classes);
      break;
    default: {
      const never: never = arch;
      throw new Error(`unknown architecture ${String(never)}`);
    }
  }
  return tf.model({ inputs: input, outputs: out, name: arch });
}

type B = ReturnType<typeof builder>;

function vgg(tf: Tf, b: B, input: ST, convsPerBlock: number[], top: boolean, classes: number): ST {
  const filters = [64, 128, 256, 512, 512];
  let x = input;
  convsPerBlock.forEach((n, i) => {
    for (let j = 1; j <= n; j++) x = b.conv(x, filters[i], 3, `block${i + 1}_conv${j}`, { padding: "same", activation: "relu" });
    x = tf.layers.maxPooling2d({ poolSize: 2, strides: 2, name: `block${i + 1}_pool` }).apply(x) as ST;
  });
  if (!top) return x;
  x = tf.layers.flatten({ name: "flatten" }).apply(x) as ST;
  x = b.dense(x, b.ch(4096), "fc1", "relu");
  x = b.dense(x, b.ch(4096), "fc2", "relu");
  return b.dense(x, classes, "predictions", "softmax");
}

/** ResNet v1 bottleneck block (`block1` in keras/applications/resnet.py). */
function resBlock(tf: Tf, b: B, x: ST, filters: number, stride: number, convShortcut: boolean, name: string): ST {
  const eps = 1.001e-5;
  let shortcut = x;
  if (convShortcut) {
    shortcut = b.conv(x, 4 * filters, 1, `${name}_0_conv`, { strides: stride });
    shortcut = b.bn(shortcut, `${name}_0_bn`, eps);
  }
  let y = b.conv(x, filters, 1, `${name}_1_conv`, { strides: stride });
  y = b.relu(b.bn(y, `${name}_1_bn`, eps), `${name}_1_relu`);
  y = b.conv(y, filters, 3, `${name}_2_conv`, { padding: "same" });
  y = b.relu(b.bn(y, `${name}_2_bn`, eps), `${name}_2_relu`);
  y = b.conv(y, 4 * filters, 1, `${name}_3_conv`);
  y = b.bn(y, `${name}_3_bn`, eps);
  y = tf.layers.add({ name: `${name}_add` }).apply([shortcut, y]) as ST;
  return b.relu(y, `${name}_out`);
}

function resnet50(tf: Tf, b: B, input: ST, top: boolean, classes: number): ST {
  let x = b.pad(input, [[3, 3], [3, 3]], "conv1_pad");
  x = b.conv(x, 64, 7, "conv1_conv", { strides: 2 });
  x = b.relu(b.bn(x, "conv1_bn", 1.001e-5), "conv1_relu");
  x = b.pad(x, [[1, 1], [1, 1]], "pool1_pad");
  x = tf.layers.maxPooling2d({ poolSize: 3, strides: 2, name: "pool1_pool" }).apply(x) as ST;
  const stacks: [string, number, number, number][] = [["conv2", 64, 3, 1], ["conv3", 128, 4, 2], ["conv4", 256, 6, 2], ["conv5", 512, 3, 2]];
  for (const [name, filters, blocks, stride] of stacks) {
    x = resBlock(tf, b, x, filters, stride, true, `${name}_block1`);
    for (let i = 2; i <= blocks; i++) x = resBlock(tf, b, x, filters, 1, false, `${name}_block${i}`);
  }
  if (!top) return x;
  x = tf.layers.globalAveragePooling2d({ name: "avg_pool" }).apply(x) as ST;
  return b.dense(x, classes, "predictions", "softmax");
}

/** Keras's `_make_divisible`: round to a multiple of 8, never more than 10% down. */
function makeDivisible(v: number, divisor = 8): number {
  const n = Math.max(divisor, Math.floor(v + divisor / 2) - (Math.floor(v + divisor / 2) % divisor));
  return n < 0.9 * v ? n + divisor : n;
}

/** Inverted residual block; the residual add is decided on the full-width channel counts, so names never change with widthScale. */
function invertedResBlock(tf: Tf, b: B, x: ST, inFull: number, filters: number, stride: number, expansion: number, id: number): ST {
  const eps = 1e-3;
  const outFull = makeDivisible(filters);
  const inputs = x;
  let prefix = "expanded_conv_";
  if (id) {
    prefix = `block_${id}_`;
    x = b.conv(x, expansion * inFull, 1, `${prefix}expand`, { padding: "same", useBias: false });
    x = b.relu6(b.bn(x, `${prefix}expand_BN`, eps), `${prefix}expand_relu`);
  }
  if (stride === 2) {
    const [h, w] = [x.shape[1], x.shape[2]];
    // Keras's correct_pad: pad (0, 1) on even sizes, (1, 1) on odd ones
    const p = (s: number | null): [number, number] => (s != null && s % 2 === 1 ? [1, 1] : [0, 1]);
    x = b.pad(x, [p(h), p(w)], `${prefix}pad`);
  }
  x = tf.layers
    .depthwiseConv2d({ kernelSize: 3, strides: stride, useBias: false, padding: stride === 1 ? "same" : "valid", name: `${prefix}depthwise`, depthwiseInitializer: "zeros" })
    .apply(x) as ST;
  x = b.relu6(b.bn(x, `${prefix}depthwise_BN`, eps), `${prefix}depthwise_relu`);
  x = b.conv(x, outFull, 1, `${prefix}project`, { padding: "same", useBias: false });
  x = b.bn(x, `${prefix}project_BN`, eps);
  if (inFull === outFull && stride === 1) return tf.layers.add({ name: `${prefix}add` }).apply([inputs, x]) as ST;
  return x;
}

function mobilenetV2(tf: Tf, b: B, input: ST, top: boolean, classes: number): ST {
  let x = b.conv(input, 32, 3, "Conv1", { strides: 2, padding: "same", useBias: false });
  x = b.relu6(b.bn(x, "bn_Conv1", 1e-3), "Conv1_relu");
  // [filters, stride, expansion] for blocks 0..16
  const blocks: [number, number, number][] = [
    [16, 1, 1], [24, 2, 6], [24, 1, 6], [32, 2, 6], [32, 1, 6], [32, 1, 6], [64, 2, 6], [64, 1, 6], [64, 1, 6], [64, 1, 6],
    [96, 1, 6], [96, 1, 6], [96, 1, 6], [160, 2, 6], [160, 1, 6], [160, 1, 6], [320, 1, 6],
  ];
  let inFull = 32;
  blocks.forEach(([filters, stride, expansion], id) => {
    x = invertedResBlock(tf, b, x, inFull, filters, stride, expansion, id);
    inFull = makeDivisible(filters);
  });
  x = b.conv(x, 1280, 1, "Conv_1", { useBias: false });
  x = b.relu6(b.bn(x, "Conv_1_bn", 1e-3), "out_relu");
  if (!top) return x;
  x = tf.layers.globalAveragePooling2d({ name: "global_average_pooling2d" }).apply(x) as ST;
  return b.dense(x, classes, "predictions", "softmax");
}
