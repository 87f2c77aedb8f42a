/**
 * Sweeps and the results database against bad inputs: a run that diverges is recorded as failed and the
 * sweep goes on; a checkpoint that cannot be loaded is retrained; another application's database and
 * read-only opens are never written to. Also the small pieces behind the CLI's input checks.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { Store, runKey, runPlan, trainKey, widthPlan, type RunnerEvents } from '../../src/experiments/index.js';
import { UserError, isUserError } from '../../src/errors.js';
import { attachNegativeValues, parseCommand, type CommandDef } from '../../src/cli/args.js';
import { formatBelow, nonFiniteParams } from '../../src/train/sgd.js';
import { makeConfig } from '../../src/train/config.js';
import { checkDataMatchesNetwork } from '../../src/measures/index.js';
import { buildNetwork } from '../../src/models/spec.js';
import { loadNetwork, saveNetwork } from '../../src/models/io.js';
import { loadData } from '../../src/data/index.js';
import type { Dataset } from '../../src/data/types.js';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'gm-inputs-'));
const DATA = 'synthetic:n=64,test=16,shape=4x4x1,classes=3';

function failures(): { events: RunnerEvents; failed: string[]; done: string[] } {
  const failed: string[] = [];
  const done: string[] = [];
  return { failed, done, events: { onRunFailed: ({ spec, error }) => failed.push(`${spec.label}: ${error}`), onRunDone: ({ spec }) => done.push(spec.label) } };
}

test('sweep: a run whose training diverges is recorded as failed, not saved, and the sweep goes on', async () => {
  const d = tmp();
  const db = path.join(d, 'g.db');
  const plan = widthPlan('quick', { data: DATA, widths: [4, 8], trainSize: 32, maxEpochs: 40, measureOptions: { measures: ['l2'] } });
  plan.runs[0] = { ...plan.runs[0], config: { ...plan.runs[0].config, lr: 1e6 } };
  const c = failures();
  const r = await runPlan(plan, { db, workers: 1, engine: { device: 'cpu', threads: 1 }, events: c.events });
  assert.equal(r.done, 1);
  assert.equal(r.failed.length, 1);
  assert.match(c.failed[0], /^width=4: training diverged at epoch \d+ \(loss /);
  assert.ok(!c.failed[0].includes('\n'), 'one line, no stack trace');
  assert.deepEqual(c.done, ['width=8']);
  assert.ok(!fs.existsSync(path.join(d, 'checkpoints', trainKey(plan.runs[0].config))), 'a diverged run is not saved as a checkpoint');
  const store = Store.open(db, { mustExist: true });
  const [failed] = store.listRuns({ status: 'failed' });
  assert.equal(failed.key, runKey(plan.runs[0]));
  assert.match(failed.error!, /diverged at epoch/);
  assert.equal(store.listRuns({ status: 'done' }).length, 1);
  store.close();
});

test('sweep: a checkpoint with NaN weights (an old diverged run) or unreadable files is retrained', async () => {
  const d = tmp();
  const db = path.join(d, 'g.db');
  const opts = { db, workers: 1, engine: { device: 'cpu' as const, threads: 1 } };
  const plan = (measures: string[]) => widthPlan('quick', { data: DATA, widths: [4], trainSize: 32, maxEpochs: 3, measureOptions: { measures } });
  assert.equal((await runPlan(plan(['l2']), opts)).done, 1);
  const dir = path.join(d, 'checkpoints', trainKey(plan(['l2']).runs[0].config));
  const good = fs.readFileSync(path.join(dir, 'weights.bin'));
  const bad = Buffer.from(good);
  bad.writeFloatLE(NaN, 0);
  fs.writeFileSync(path.join(dir, 'weights.bin'), bad);
  assert.throws(() => loadNetwork(path.join(dir, 'model.json')), (e) => isUserError(e) && /layer dense_1 has 1 NaN kernel value/.test(e.message));
  let reused: boolean | null = null;
  // the run is recorded (with l2): only margin is added, and the unusable checkpoint is trained again
  const r = await runPlan(plan(['l2', 'margin']), { ...opts, events: { onRunDone: ({ outcome }) => (reused = outcome.reusedCheckpoint) } });
  assert.equal(r.added, 1);
  assert.deepEqual(r.failed, []);
  assert.equal(reused, false);
  assert.deepEqual(fs.readFileSync(path.join(dir, 'weights.bin')), good);
  // an incomplete initial/ folder, and a run.json that is not a record
  fs.writeFileSync(path.join(dir, 'initial', 'model.json'), '{}');
  assert.equal((await runPlan(plan(['margin', 'l1_path']), opts)).added, 1);
  fs.writeFileSync(path.join(dir, 'run.json'), 'null');
  assert.equal((await runPlan(plan(['l2_path']), opts)).added, 1);
  assert.deepEqual(fs.readdirSync(path.join(d, 'checkpoints')).filter((f) => !f.startsWith('.') || /discarded/.test(f)), [path.basename(dir)], 'nothing left aside');
});

test('store: another application\'s SQLite database is refused without a write; read-only opens never write', () => {
  const d = tmp();
  const other = path.join(d, 'other.db');
  const x = new Database(other);
  x.exec("CREATE TABLE meta (key TEXT, v TEXT); CREATE TABLE runs (id INTEGER); INSERT INTO runs VALUES (1)");
  x.close();
  const bytes = fs.readFileSync(other);
  for (const opts of [{}, { mustExist: true }]) {
    assert.throws(() => Store.open(other, opts), (e) => e instanceof UserError && /^--db: .*other\.db is not a genmeasures results database \(.*; its tables: meta, runs\)$/.test(e.message));
  }
  // a genmeasures-like meta table but runs of another shape
  const half = path.join(d, 'half.db');
  const h = new Database(half);
  h.exec("CREATE TABLE meta (name TEXT, value TEXT); INSERT INTO meta VALUES ('schema_version', '1'); CREATE TABLE runs (key TEXT)");
  h.close();
  assert.throws(() => Store.open(half), (e) => e instanceof UserError && /lacks the columns train_key/.test(e.message));
  assert.deepEqual(fs.readFileSync(other), bytes);
  assert.deepEqual(fs.readdirSync(d).sort(), ['half.db', 'other.db']);

  // a new database is created by a writing open; a read-only open refuses an empty file or one without tables
  const empty = path.join(d, 'empty.db');
  fs.writeFileSync(empty, '');
  assert.throws(() => Store.open(empty, { mustExist: true }), (e) => e instanceof UserError && /0 bytes/.test(e.message));
  assert.equal(fs.statSync(empty).size, 0);
  const bare = path.join(d, 'bare.db');
  const b = new Database(bare);
  b.pragma('user_version = 7'); // a valid SQLite file without any table
  b.close();
  assert.throws(() => Store.open(bare, { readonly: true }), (e) => e instanceof UserError && /without any table/.test(e.message));
  Store.open(empty).close(); // run --db on an empty file: a new database
  const ro = Store.open(empty, { mustExist: true });
  assert.equal(ro.db.readonly, true);
  assert.deepEqual(ro.count(), { done: 0, failed: 0 });
  ro.close();
});

test('args: a negative number after an option that takes a value is its value', () => {
  const cmd: CommandDef = {
    name: 't',
    summary: '',
    usage: '',
    options: {
      seed: { type: 'int', help: '' },
      lr: { type: 'number', help: '' },
      size: { type: 'int', min: 1, help: '' },
      norm: { type: 'string', help: '' },
      quiet: { type: 'boolean', help: '' },
    },
  };
  assert.deepEqual(attachNegativeValues(cmd, ['--seed', '-1', '--norm', '-0.5,2', '--lr', '-.5', '--quiet']), ['--seed=-1', '--norm=-0.5,2', '--lr=-.5', '--quiet']);
  assert.deepEqual(attachNegativeValues(cmd, ['--quiet', '-1']), ['--quiet', '-1'], 'a boolean takes no value');
  assert.deepEqual(attachNegativeValues(cmd, ['--', '--seed', '-1']), ['--', '--seed', '-1']);
  assert.deepEqual(parseCommand(cmd, ['--seed', '-1', '--lr', '-2e-3']).options, { seed: -1, lr: -2e-3, size: undefined, norm: undefined, quiet: undefined });
  assert.throws(() => parseCommand(cmd, ['--size', '-5']), (e) => isUserError(e) && e.message === '--size: -5 is below the minimum 1');
  assert.throws(() => parseCommand(cmd, ['--norm', '-x']), (e) => isUserError(e) && /^--norm: needs a value, got the option-like "-x"/.test(e.message));
});

test('stop reason: the loss is printed with enough digits not to read as the target', () => {
  assert.equal(formatBelow(0.009998, 0.01), '0.009998');
  assert.equal(formatBelow(0.0099999, 0.01), '0.0099999');
  assert.equal(formatBelow(0.00999999997, 0.01), '0.00999999997');
  assert.equal(formatBelow(0.00512, 0.01), '0.005120');
  assert.equal(formatBelow(NaN, 0.01), 'NaN');
  assert.equal(formatBelow(0.012346, 0.0123461), '0.012346'); // "0.01235" would read as above the target
});

test('non-finite parameters are found with their counts', () => {
  assert.equal(nonFiniteParams([new Float32Array([1, 2]), new Float32Array([3])]), null);
  assert.deepEqual(nonFiniteParams([new Float32Array([1]), new Float32Array([NaN, Infinity, -Infinity, NaN, 0])]), { index: 1, nan: 2, inf: 2 });
});

test('--classes: absent from a configuration unless given, so run and checkpoint keys do not change', () => {
  const base = makeConfig({ data: DATA, model: 'mlp:4' });
  assert.ok(!('classes' in base));
  assert.ok(!('classes' in makeConfig({ data: DATA, model: 'mlp:4', classes: null as unknown as undefined })));
  assert.equal(JSON.stringify(makeConfig({ data: DATA, model: 'mlp:4', classes: undefined })), JSON.stringify(base));
  assert.equal(makeConfig({ data: DATA, classes: 12 }).classes, 12);
  assert.throws(() => makeConfig({ data: DATA, classes: 1 }), (e) => isUserError(e) && /^--classes: 1 must be a whole number ≥ 2$/.test(e.message));
  // the quick width plan's first key, as before --classes existed
  const spec = widthPlan('quick').runs[0];
  assert.ok(!('classes' in spec.config));
  assert.equal(loadData(DATA, { classes: 7 }).train.numClasses, 7);
  assert.throws(() => loadData(DATA, { classes: 2 }), (e) => isUserError(e) && /--classes 2: .* has label 2/.test(e.message));
});

test('checkDataMatchesNetwork: every label below the model\'s outputs, whatever the data\'s class count', () => {
  const net = buildNetwork('mlp:4', { inputShape: [1, 1, 6], numClasses: 3, seed: 1 });
  const data = (y: number[], numClasses: number): Dataset => ({ name: 'd', shape: [1, 1, 6], numClasses, n: y.length, x: new Float32Array(6 * y.length), y: Int32Array.from(y) });
  checkDataMatchesNetwork(net, data([0, 1, 1], 2)); // the model's last class absent from the data
  checkDataMatchesNetwork(net, data([0, 1, 2], 10)); // a data set with more classes, whose points use only 0..2
  assert.throws(() => checkDataMatchesNetwork(net, data([0, 3, 1], 4)), (e) => isUserError(e) && /point 1 has label 3, and the model's outputs are classes 0\.\.2/.test(e.message) && !e.message.includes('\n'));
  assert.throws(() => checkDataMatchesNetwork(net, { ...data([0], 3), shape: [1, 1, 7] }), (e) => isUserError(e) && /1x1x7 inputs/.test(e.message));
});

test('loadNetwork names the layer and the count of non-finite weights', () => {
  const d = tmp();
  const net = buildNetwork('mlp:4', { inputShape: [2, 2, 1], numClasses: 3, seed: 1, bias: true });
  const out = net.layers.filter((l) => l.kind === 'dense')[1];
  if (out.kind === 'dense' && out.bias) out.bias[2] = -Infinity;
  const file = path.join(d, 'model.json');
  saveNetwork(net, file);
  assert.throws(() => loadNetwork(file), (e) => isUserError(e) && e.message === `${file}: layer dense_2 has 1 infinite bias value (of 3); the weights are not usable (did its training diverge?)`);
});
