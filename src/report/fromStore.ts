/** Read the runs of a results database as the report sees them. */
import { canonicalJson } from '../experiments/plan.js';
import { Store, StoredRun } from '../experiments/store.js';
import type { ReportRun, CurvePoint } from './figures.js';

export function toReportRun(r: StoredRun): ReportRun {
  return {
    key: r.key,
    trainKey: r.train_key,
    measureOptions: canonicalJson(r.measure_options),
    experiment: r.experiment,
    data: r.data,
    model: r.model,
    seed: r.seed,
    size: r.train_size,
    labels: r.labels === 'random' ? 'random' : 'true',
    confusion: r.confusion,
    width: r.width,
    converged: r.status === 'done' && r.converged === 1,
    status: r.status,
    epochs: r.epochs ?? 0,
    trainError: r.train_error,
    testError: r.test_error,
    measures: r.measures ?? {},
    components: (r.components ?? {}) as Record<string, unknown>,
    curve: (r.pac_bayes_curve ?? []) as CurvePoint[],
  };
}

export function loadReportRuns(dbFile: string): ReportRun[] {
  const store = Store.open(dbFile, { mustExist: true, option: '--db' });
  try {
    return store.listRuns().map(toReportRun);
  } finally {
    store.close();
  }
}
