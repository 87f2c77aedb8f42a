/**
 * Loading a network from any format genmeasures reads: an ONNX model (`.onnx`, see onnxImport.ts) or a
 * TensorFlow.js LayersModel (`model.json` + weights, see io.ts).
 */
import { loadNetwork } from './io.js';
import type { Network } from './network.js';
import { loadOnnxNetwork } from './onnxImport.js';

/** Whether a model file is read as ONNX (by its extension). */
export function isOnnxFile(file: string): boolean {
  return /\.onnx$/i.test(file);
}

/** The network in `file`: `.onnx` → ONNX import, anything else → TF.js LayersModel. */
export function loadAnyNetwork(file: string): Network & { notes: string[] } {
  return isOnnxFile(file) ? loadOnnxNetwork(file) : loadNetwork(file);
}
