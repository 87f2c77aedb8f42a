/**
 * Every run of a results database as CSV (one row per run, one column per configuration field and per
 * measure) or JSON (an array of objects with the configuration, the measures, the PAC-Bayes curve, the
 * notes and the training history).
 */
import { DEFAULT_CONFIG } from '../train/config.js';
import { MEASURE_NAMES } from '../measures/index.js';
import { exportedOptionNames, exportedOptionValue } from '../measures/options.js';
import type { StoredRun } from './store.js';

/** The run columns exported as they are, in order. */
export const EXPORT_FIELDS = [
  'key', 'experiment', 'label', 'status', 'converged', 'stop_reason', 'epochs', 'train_size', 'labels', 'confusion', 'width',
  'm', 'true_count', 'measured_on', 'train_loss', 'train_error', 'test_loss', 'test_error', 'gen_gap', 'backend',
  'train_seconds', 'measure_seconds', 'checkpoint', 'created_at', 'finished_at', 'error',
] as const;

/** The measure option columns: the list, then every keyed option as declared (measures/options.ts; a plugin's too). */
const MEASURE_OPTION_FIELDS = () => ['measures', ...exportedOptionNames()];

/** One plain object per run (JSON export). */
export function exportObjects(runs: StoredRun[]): Record<string, unknown>[] {
  return runs.map((r) => {
    const o: Record<string, unknown> = {};
    for (const f of EXPORT_FIELDS) o[f] = f === 'converged' ? (r.converged === null ? null : r.converged === 1) : r[f];
    o.config = r.config;
    o.measure_options = r.measure_options;
    o.measures = r.measures;
    o.pac_bayes_curve = r.pac_bayes_curve;
    o.notes = r.notes;
    o.timings_ms = r.timings;
    o.components = r.components;
    o.history = r.record?.history ?? null;
    return o;
  });
}

export function toJson(runs: StoredRun[]): string {
  return JSON.stringify(exportObjects(runs), null, 1) + '\n';
}

function csvField(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'object' ? JSON.stringify(v) : typeof v === 'boolean' ? (v ? 'true' : 'false') : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** The CSV header: run fields, config.<field>, measure_options.<field>, then one column per measure. */
export function csvColumns(runs: StoredRun[]): string[] {
  const configKeys = [...Object.keys(DEFAULT_CONFIG)];
  const optionKeys = MEASURE_OPTION_FIELDS();
  const measureNames = [...MEASURE_NAMES];
  for (const r of runs) {
    for (const k of Object.keys(r.config)) if (!configKeys.includes(k)) configKeys.push(k);
    for (const k of Object.keys(r.measure_options)) if (!optionKeys.includes(k)) optionKeys.push(k);
    for (const k of Object.keys(r.measures ?? {})) if (!measureNames.includes(k)) measureNames.push(k);
  }
  return [...EXPORT_FIELDS, ...configKeys.map((k) => `config.${k}`), ...optionKeys.map((k) => `measure_options.${k}`), ...measureNames];
}

export function toCsv(runs: StoredRun[]): string {
  const columns = csvColumns(runs);
  const lines = [columns.map(csvField).join(',')];
  for (const r of runs) {
    const cells = columns.map((c) => {
      if (c.startsWith('config.')) return r.config[c.slice(7)];
      if (c.startsWith('measure_options.')) {
        const v = exportedOptionValue(r.measure_options, c.slice(16)); // a keyed option stored only off its default: its default
        return Array.isArray(v) && v.every((x) => typeof x === 'string') ? v.join(' ') : v;
      }
      if (c === 'converged') return r.converged === null ? null : r.converged === 1;
      if ((EXPORT_FIELDS as readonly string[]).includes(c)) return r[c as (typeof EXPORT_FIELDS)[number]];
      return r.measures?.[c];
    });
    lines.push(cells.map(csvField).join(','));
  }
  return lines.join('\n') + '\n';
}
