/**
 * genmeasures as a library: everything the CLI does, importable.
 *
 *   import { initEngine, prepareData, buildNetwork, train, loadNetwork } from 'genmeasures';
 *   await initEngine({ device: 'cpu', threads: 2 });   // optional: the default is cpu, every core
 */
export { UserError } from './errors.js';
export { initEngine, configureEngine, engineOptions, engineDescription, backendName, releasePrograms, DEVICES, type Device, type EngineOptions } from './engine/index.js';
export { logits, lossGrad, SgdProgram, architectureKey } from './engine/programs.js';
export * from './data/index.js';
export * from './models/network.js';
export { buildNetwork, parseModelSpec, type ModelPlan, type BuildOptions } from './models/spec.js';
export { loadNetwork, saveNetwork, toLayersModelArtifacts, foldBatchNorm } from './models/io.js';
export { networkFromOnnx, loadOnnxNetwork } from './models/onnxImport.js';
export { networkToOnnx, saveOnnxNetwork } from './models/onnxExport.js';
export { loadAnyNetwork, isOnnxFile } from './models/load.js';
export { type RunConfig, DEFAULT_CONFIG, makeConfig } from './train/config.js';
export { prepareData, loadRunData, type PreparedData } from './train/prepare.js';
export { train, evaluate, type EpochRecord, type TrainResult } from './train/sgd.js';
export { trainRun, saveRun, type RunRecord } from './train/run.js';
export * from './measures/index.js';
export { buildPlan, randomLabelsPlan, confusionPlan, widthPlan, runPlan, Store, runKey, trainKey, toCsv, toJson, type ExperimentPlan, type RunSpec, type PlanOverrides, type StoredRun, type SweepResult } from './experiments/index.js';
export { openResults, enqueuePlan, sweepStatus, workQueue, type ResultSink, type EnqueueResult, type SweepStatus, type QueueWorkerOptions } from './experiments/index.js';
export { kendallTau, granulatedKendall } from './report/correlation.js';
export { writeReport } from './report/html.js';
export { Rng, deriveSeed } from './util/random.js';
