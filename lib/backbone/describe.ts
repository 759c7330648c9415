/**
 * Looking at and cutting tfjs LayersModels that are already built.
 */
import type * as tfTypes from "@tensorflow/tfjs";
import type { LayerInfo } from "./types";
import { tfModule } from "./tf";
import { unknownLayer } from "./topology";

/** A model ending at `layer`, sharing the weights of `model` (dispose only one of the two). */
export function truncateAt(model: tfTypes.LayersModel, layer: string): tfTypes.LayersModel {
  const tf = tfModule();
  const target = model.layers.find((l) => l.name === layer);
  if (!target) throw unknownLayer(layer, model.layers.map((l) => l.name), model.name);
  const output = (target.inboundNodes.length > 1 ? target.getOutputAt(0) : target.output) as tfTypes.SymbolicTensor | tfTypes.SymbolicTensor[];
  return tf.model({ inputs: model.inputs, outputs: Array.isArray(output) ? output[0] : output, name: `${model.name}_to_${layer}` });
}

/** Layers of a LayersModel: name, class, output shape for one image, parameter count. */
export function describeLayers(model: tfTypes.LayersModel): LayerInfo[] {
  return model.layers.map((l) => {
    let shape: unknown = l.outputShape;
    if (Array.isArray(shape) && Array.isArray(shape[0])) shape = shape[0];
    return {
      name: l.name,
      type: l.getClassName(),
      outputShape: ((shape as (number | null)[]) ?? []).slice(1).map((d) => (d == null ? -1 : d)),
      params: l.countParams(),
    };
  });
}

