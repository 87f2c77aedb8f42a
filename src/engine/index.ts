/**
 * The engine's public face: choose the device and threads once per process, then every numeric program
 * (engine/programs.ts) runs on ONNX Runtime with them.
 */
import { checkDevice, configureEngine, engineOptions, type EngineOptions } from './runtime.js';

export { configureEngine, setEngineThreads, engineDescription, engineOptions, parseDevice, parseThreads, cores, releasePrograms, DEVICES, type Device, type EngineOptions } from './runtime.js';

/** The name recorded with results: the engine and device (thread counts do not change any number). */
export function backendName(): string {
  return `onnxruntime-${engineOptions().device}`;
}

/**
 * Configure the engine (device, threads) and check that the device can run a program: a UserError if it
 * cannot (never a silent fall-back to the CPU). Returns the backend name recorded with results.
 */
export async function initEngine(opts: Partial<EngineOptions> = {}): Promise<string> {
  configureEngine(opts);
  await checkDevice();
  return backendName();
}
