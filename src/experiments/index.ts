/** The paper's three experiments, the results database, and the runner (see docs/experiments.md). */
export * from './plan.js';
export { randomLabelsPlan, RANDOM_LABELS_PRESETS, type RandomLabelsSettings } from './randomLabels.js';
export { confusionPlan, CONFUSION_PRESETS, type ConfusionSettings } from './confusion.js';
export { widthPlan, WIDTH_PRESETS, type WidthSettings } from './width.js';
export { EXPERIMENTS, buildPlan, isExperimentName } from './experiments.js';
export { Store, DEFAULT_DB, SCHEMA_VERSION, RUN_COLUMNS, checkpointsDir, doneRow, failedRow, planKey, type RunRow, type StoredRun } from './store.js';
export { executeRun, trainOrReuse, measureCheckpoint, isCompleteCheckpoint, type RunJob, type RunOutcome, type RunSummary } from './execute.js';
export { runPlan, estimateCost, cleanStaleTemporaries, formatRunLine, type RunnerOptions, type RunnerEvents, type SweepResult } from './runner.js';
export { toCsv, toJson, exportObjects, csvColumns } from './export.js';
export { openResults, isPostgresUrl, SqliteSink, type ResultSink, type PlanCounts } from './sink.js';
export { PostgresSink, redactUrl } from './postgres.js';
export { RunQueue, jobId, DEFAULT_LEASE_SECONDS, DEFAULT_RETRIES, type QueuedRun, type LeaseOptions } from './queue.js';
export { enqueuePlan, sweepStatus, type EnqueueResult, type SweepStatus } from './distributed.js';
export { workQueue, type QueueWorkerOptions, type QueueWorkerResult } from './queueWorker.js';
export { workLoop, type RunSource, type LoopResult } from './loop.js';
