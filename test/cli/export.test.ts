import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { assertUserError, runCli } from './cli.js';
import { MEASURES } from '../../src/measures/index.js';

/** What a sweep computes by default: every measure but the costly opt-in ones. */
const SWEEP_NAMES = MEASURES.filter((m) => !m.sweepOptIn).map((m) => m.name);

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'gm-cli-export-'));

/** Parse RFC 4180 CSV (quoted fields with commas, quotes and newlines). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += ch;
  }
  if (field !== '' || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

let shared: string | null = null;
/** One small sweep (2 confusion runs, all measures) shared by the tests. */
function sweepDb(): string {
  if (shared) return shared;
  const d = tmp();
  const db = path.join(d, 'g.db');
  const r = runCli([
    'run', 'confusion', '--data', 'synthetic:n=200,test=64,shape=6x6x1,classes=3', '--model', 'mlp:8', '--train-size', '48',
    '--confusion-sizes', '0,16', '--max-epochs', '30', '--samples', '1', '--workers', '2', '--threads', '1', '--db', db,
  ]);
  assert.equal(r.code, 0, r.stderr);
  shared = db;
  return db;
}

test('export csv: one row per run, one column per configuration field and per measure', () => {
  const db = sweepDb();
  const r = runCli(['export', '--db', db, '--format', 'csv']);
  assert.equal(r.code, 0, r.stderr);
  const [header, ...rows] = parseCsv(r.stdout);
  assert.equal(rows.length, 2);
  for (const c of ['key', 'experiment', 'status', 'converged', 'test_error', 'gen_gap', 'config.data', 'config.model', 'config.trainSize', 'config.confusion', 'config.seed', 'config.lr', 'measure_options.samples', 'measure_options.alphaGrid', ...SWEEP_NAMES]) {
    assert.ok(header.includes(c), `column ${c}`);
  }
  assert.equal(new Set(header).size, header.length, 'no duplicate column');
  const col = (row: string[], name: string) => row[header.indexOf(name)];
  assert.deepEqual(rows.map((row) => col(row, 'config.confusion')).sort(), ['0', '16']);
  for (const row of rows) {
    assert.equal(row.length, header.length);
    assert.equal(col(row, 'experiment'), 'confusion');
    assert.equal(col(row, 'status'), 'done');
    assert.match(col(row, 'converged'), /^(true|false)$/);
    assert.equal(col(row, 'config.data'), 'synthetic:n=200,test=64,shape=6x6x1,classes=3', 'a field with commas survives quoting');
    assert.equal(col(row, 'measure_options.samples'), '1');
    assert.ok(Number(col(row, 'params')) > 0);
    assert.ok(col(row, 'l2') === '' || Number.isFinite(Number(col(row, 'l2'))));
    assert.ok(Number.isFinite(Number(col(row, 'test_error'))));
    assert.equal(col(row, 'measured_on'), '48');
  }
});

test('export json: an array of runs with configuration, measures, curve, notes and history; --out and --experiment', () => {
  const db = sweepDb();
  const d = tmp();
  const out = path.join(d, 'runs.json');
  const r = runCli(['export', '--db', db, '--format', 'json', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '');
  const runs = JSON.parse(fs.readFileSync(out, 'utf8'));
  assert.equal(runs.length, 2);
  for (const run of runs) {
    assert.equal(run.experiment, 'confusion');
    assert.equal(typeof run.converged, 'boolean');
    assert.equal(run.config.trainSize, 48);
    assert.deepEqual(Object.keys(run.measures), SWEEP_NAMES);
    assert.equal(run.measure_options.samples, 1);
    assert.equal(run.pac_bayes_curve.length, 16);
    assert.ok(Array.isArray(run.notes));
    assert.equal(run.history.length, run.epochs);
  }
  const none = runCli(['export', '--db', db, '--format', 'json', '--experiment', 'width']);
  assert.equal(none.code, 0, none.stderr);
  assert.deepEqual(JSON.parse(none.stdout), []);
  const csvNone = runCli(['export', '--db', db, '--format', 'csv', '--status', 'failed']);
  assert.equal(csvNone.stdout.trim().split('\n').length, 1, 'header only');
});

test('export: bad input is a one-line user error', () => {
  const d = tmp();
  assertUserError(runCli(['export', '--db', path.join(d, 'missing.db'), '--format', 'csv']), '--db', 'missing.db', 'does not exist');
  assertUserError(runCli(['export', '--db', path.join(d, 'missing.db')]), '--format csv|json is required');
  assertUserError(runCli(['export', '--format', 'xml', '--db', path.join(d, 'x.db')]), '--format', '"xml"');
  fs.writeFileSync(path.join(d, 'junk.db'), 'not a database '.repeat(100));
  assertUserError(runCli(['export', '--db', path.join(d, 'junk.db'), '--format', 'json']), 'not a SQLite database');
  assert.ok(!fs.existsSync(path.join(d, 'missing.db')), 'export does not create a database');
});
