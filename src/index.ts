/**
 * genmeasures as a library: everything the CLI does, importable.
 *
 *   import { initBackend, prepareData, buildNetwork, train, loadNetwork } from 'genmeasures';
 *   await initBackend('auto');            // before any tensor is created
 */
export { UserError } from './errors.js';
export { initBackend, parseBackend, type BackendChoice } from './engine/backend.js';
export { dense, conv2d } from './engine/ops.js';
export * from './data/index.js';
export * from './models/network.js';
export { forward, parameterTensors, parameterShapes } from './models/forward.js';
export { buildNetwork, parseModelSpec, type ModelPlan, type BuildOptions } from './models/spec.js';
export { loadNetwork, saveNetwork, toLayersModelArtifacts, foldBatchNorm } from './models/io.js';
export { type RunConfig, DEFAULT_CONFIG, makeConfig } from './train/config.js';
export { prepareData, loadRunData, type PreparedData } from './train/prepare.js';
export { train, evaluate, crossEntropy, SgdState, type EpochRecord, type TrainResult } from './train/sgd.js';
export { trainRun, saveRun, type RunRecord } from './train/run.js';
export * from './measures/index.js';
export { buildPlan, randomLabelsPlan, confusionPlan, widthPlan, runPlan, Store, runKey, trainKey, toCsv, toJson, type ExperimentPlan, type RunSpec, type PlanOverrides, type StoredRun, type SweepResult } from './experiments/index.js';
export { kendallTau, granulatedKendall } from './report/correlation.js';
export { writeReport } from './report/html.js';
export { Rng, deriveSeed } from './util/random.js';
