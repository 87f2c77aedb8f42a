import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  Store,
  cleanStaleTemporaries,
  formatRunLine,
  randomLabelsPlan,
  runKey,
  runPlan,
  trainKey,
  widthPlan,
  type RunnerEvents,
} from '../../src/experiments/index.js';
import { UserError } from '../../src/errors.js';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'gm-runner-'));
const DATA = 'synthetic:n=256,test=128,shape=6x6x1,classes=4';
const MEASURES = ['margin', 'l2', 'l1_path', 'sharpness', 'pac_bayes'];

/** A tiny plan: 2 sizes × true/random labels on synthetic data, a reduced measure set. */
const tinyPlan = (over: Parameters<typeof randomLabelsPlan>[1] = {}) =>
  randomLabelsPlan('quick', { data: DATA, model: 'mlp:16', sizes: [48, 96], maxEpochs: 60, measureOptions: { measures: MEASURES, samples: 2, sharpnessSteps: 3 }, ...over });

function collect(): { events: RunnerEvents; lines: string[]; starts: unknown[]; failed: string[] } {
  const lines: string[] = [];
  const starts: unknown[] = [];
  const failed: string[] = [];
  return {
    lines,
    starts,
    failed,
    events: {
      onStart: (i) => starts.push(i),
      onRunDone: ({ done, total, spec, outcome }) => lines.push(formatRunLine(done, total, spec.experiment, outcome.summary)),
      onRunFailed: ({ spec, error }) => failed.push(`${spec.label}: ${error}`),
    },
  };
}

test('runner: a sweep trains, measures and records every run once; running it again skips them all', async () => {
  const d = tmp();
  const db = path.join(d, 'g.db');
  const plan = tinyPlan();
  const c = collect();
  const r = await runPlan(plan, { db, workers: 2, engine: { device: 'cpu', threads: 1 }, events: c.events });
  assert.deepEqual(c.failed, []);
  assert.equal(r.total, 4);
  assert.equal(r.done, 4);
  assert.equal(r.skipped, 0);
  assert.deepEqual(c.starts, [{ total: 4, skipped: 0, pending: 4, workers: 2, retrying: 0, adding: 0 }]);
  assert.equal(c.lines.length, 4);
  for (const line of c.lines) assert.match(line, /^\[\d\/4\] random-labels size=\d+ labels=(true|random): .*train err [\d.]+%, test err [\d.]+%, l2 \S+, l1_path \S+, sharpness \S+, pac_bayes \S+ \(\d+s\)$/);
  assert.deepEqual(c.lines.map((l) => l.slice(0, 5)).sort(), ['[1/4]', '[2/4]', '[3/4]', '[4/4]']);

  const store = Store.open(db, { mustExist: true });
  const runs = store.listRuns();
  assert.deepEqual(runs.map((x) => x.key).sort(), plan.runs.map(runKey).sort());
  for (const run of runs) {
    const spec = plan.runs.find((s) => runKey(s) === run.key)!;
    assert.equal(run.status, 'done');
    assert.deepEqual(Object.keys(run.measures!), MEASURES);
    assert.equal(run.measured_on, spec.size);
    assert.equal(run.m, spec.size);
    assert.ok(run.record!.history.length === run.epochs);
    assert.equal(run.converged, run.record!.converged ? 1 : 0);
    assert.ok(run.test_error !== null && run.test_error >= 0 && run.test_error <= 1);
    assert.equal(run.checkpoint, path.join('checkpoints', trainKey(spec.config)));
    assert.ok(fs.existsSync(path.join(d, run.checkpoint!, 'run.json')));
    assert.equal(run.pac_bayes_curve!.length, 16);
  }
  // random labels do not generalize, true labels do (synthetic data is easy)
  const err = (labels: string) => Math.min(...runs.filter((x) => x.labels === labels).map((x) => x.test_error!));
  assert.ok(err('random') > 0.4 && err('true') < 0.2, `test errors: random ${err('random')}, true ${err('true')}`);
  store.close();

  const c2 = collect();
  const again = await runPlan(tinyPlan(), { db, workers: 2, engine: { device: 'cpu', threads: 1 }, events: c2.events });
  assert.equal(again.skipped, 4);
  assert.equal(again.done, 0);
  assert.deepEqual(c2.lines, []);
  const s2 = Store.open(db, { mustExist: true });
  assert.equal(s2.listRuns().length, 4);
  s2.close();
});

test('runner: measure options change the run, not the training: the checkpoint is reused', async () => {
  const d = tmp();
  const db = path.join(d, 'g.db');
  const base = widthPlan('quick', { data: DATA, widths: [8], trainSize: 64, maxEpochs: 20, measureOptions: { measures: ['margin', 'l2'] } });
  await runPlan(base, { db, workers: 1, engine: { device: 'cpu', threads: 1 } });
  // (another measure option: another run; a longer measure list only adds measures to the run, see keys.test.ts)
  const more = widthPlan('quick', { data: DATA, widths: [8], trainSize: 64, maxEpochs: 20, measureOptions: { measures: ['margin', 'l2'], samples: 3 } });
  let reused = false;
  await runPlan(more, { db, workers: 1, engine: { device: 'cpu', threads: 1 }, events: { onRunDone: ({ outcome }) => (reused = outcome.reusedCheckpoint) } });
  assert.ok(reused, 'the second run reused the first one\'s checkpoint');
  const store = Store.open(db, { mustExist: true });
  const runs = store.listRuns();
  assert.equal(runs.length, 2);
  assert.equal(runs[0].train_key, runs[1].train_key);
  assert.deepEqual(runs.map((r) => r.epochs), [runs[0].epochs, runs[0].epochs]);
  const [a, b] = runs.map((r) => r.measures!);
  assert.equal(a.l2, b.l2, 'measured from the same weights');
  assert.equal(fs.readdirSync(path.join(d, 'checkpoints')).length, 1);
  store.close();
});

test('runner: confusion runs are measured on the true-labelled part only', async () => {
  const d = tmp();
  const db = path.join(d, 'g.db');
  const { confusionPlan } = await import('../../src/experiments/index.js');
  const plan = confusionPlan('quick', { data: DATA, model: 'mlp:16', trainSize: 64, confusionSizes: [0, 32], maxEpochs: 30, measureOptions: { measures: ['margin', 'l2'] } });
  await runPlan(plan, { db, workers: 2, engine: { device: 'cpu', threads: 1 } });
  const store = Store.open(db, { mustExist: true });
  const runs = store.listRuns().sort((a, b) => a.confusion - b.confusion);
  assert.deepEqual(runs.map((r) => [r.m, r.true_count, r.measured_on]), [[64, 64, 64], [96, 64, 64]]);
  assert.match(runs[1].notes!.join(' '), /measured on the 64 true-labelled training points/);
  store.close();
});

test('runner: a run that fails is recorded as failed and retried; bad input stops the sweep with a user error', async () => {
  const d = tmp();
  const db = path.join(d, 'g.db');
  const plan = widthPlan('quick', { data: DATA, widths: [4, 8], trainSize: 32, maxEpochs: 5, measureOptions: { measures: ['margin'] } });
  // Plant a checkpoint of another configuration where the width-4 run's checkpoint goes: a run that throws (not bad user input).
  const bad = path.join(d, 'checkpoints', trainKey(plan.runs[0].config));
  fs.mkdirSync(path.join(bad, 'initial'), { recursive: true });
  for (const f of ['run.json', 'model.json', 'weights.bin', 'initial/model.json', 'initial/weights.bin']) fs.writeFileSync(path.join(bad, f), '{"config": {"model": "other"}}');
  const c = collect();
  const r = await runPlan(plan, { db, workers: 2, engine: { device: 'cpu', threads: 1 }, events: c.events });
  assert.equal(r.done, 1);
  assert.equal(r.failed.length, 1);
  assert.match(c.failed[0], /^width=4: .*another configuration/);
  let store = Store.open(db, { mustExist: true });
  const failed = store.listRuns({ status: 'failed' });
  assert.equal(failed.length, 1);
  assert.match(failed[0].error!, /another configuration/);
  assert.equal(failed[0].measures, null);
  store.close();
  // fix the cause; the next sweep retries the failed run only
  fs.rmSync(bad, { recursive: true });
  const c2 = collect();
  const r2 = await runPlan(plan, { db, workers: 2, engine: { device: 'cpu', threads: 1 }, events: c2.events });
  assert.equal(r2.skipped, 1);
  assert.equal(r2.done, 1);
  assert.deepEqual(c2.starts, [{ total: 2, skipped: 1, pending: 1, workers: 1, retrying: 1, adding: 0 }]);
  store = Store.open(db, { mustExist: true });
  assert.deepEqual(store.count(), { done: 2, failed: 0 });
  store.close();

  // bad input (a subset larger than the data) is a UserError that names the run, and nothing is recorded for it
  const tooBig = widthPlan('quick', { data: DATA, widths: [8], trainSize: 100000, maxEpochs: 5, measureOptions: { measures: ['margin'] } });
  await assert.rejects(runPlan(tooBig, { db, workers: 1, engine: { device: 'cpu', threads: 1 } }), (e) => e instanceof UserError && /^width=8: .*--train-size 100000 is larger/.test(e.message));
  store = Store.open(db, { mustExist: true });
  assert.deepEqual(store.count(), { done: 2, failed: 0 });
  store.close();
  await assert.rejects(
    runPlan(widthPlan('quick', { data: `idx:${path.join(d, 'nope')}`, widths: [8] }), { db, workers: 1 }),
    (e) => e instanceof UserError && /does not exist/.test(e.message),
  );
});

test('runner: stale temporary checkpoint folders are removed, fresh ones left alone', () => {
  const d = tmp();
  const old = path.join(d, '.abc.tmp-111');
  const fresh = path.join(d, '.def.tmp-222');
  fs.mkdirSync(old);
  fs.mkdirSync(fresh);
  fs.mkdirSync(path.join(d, 'abc'));
  const past = new Date(Date.now() - 3600e3);
  fs.utimesSync(old, past, past);
  assert.deepEqual(cleanStaleTemporaries(d, 600e3), ['.abc.tmp-111']);
  assert.deepEqual(fs.readdirSync(d).sort(), ['.def.tmp-222', 'abc']);
});
