/** `genmeasures status`: per sweep of a results database, how many runs are queued, running, done and failed. */
import { CommandDef, ParsedOptions } from './args.js';
import { sweepStatus } from '../experiments/distributed.js';
import { isPostgresUrl } from '../experiments/sink.js';
import { redactUrl } from '../experiments/postgres.js';
import { dbUserError } from '../util/output.js';
import { dbOption, resolveDb } from './db.js';

export const command: CommandDef = {
  name: 'status',
  summary: 'show every sweep of a results database: runs queued, running, done and failed',
  usage: 'genmeasures status [--db FILE|URL] [--json]',
  options: {
    db: dbOption(),
    json: { type: 'boolean', help: 'print the counts as JSON' },
  },
  epilog: [
    'queued: waiting in the queue (or for a retry); running: a worker holds it; failed: out of retries,',
    'recorded with its error (genmeasures export --status failed shows it; enqueue the sweep again to retry).',
    'A SQLite file has no queue: its runs are done, failed, or not run.',
    '',
    'Example:',
    '  genmeasures status --db postgres://gm:secret@db.lab:5432/sweeps',
  ].join('\n'),
};

export async function run(o: ParsedOptions): Promise<void> {
  const db = resolveDb(o);
  let sweeps;
  try {
    sweeps = await sweepStatus(db);
  } catch (e) {
    throw dbUserError(e, '--db', db);
  }
  if (o.json) {
    console.log(JSON.stringify(sweeps, null, 2));
    return;
  }
  const where = isPostgresUrl(db) ? redactUrl(db) : db;
  if (sweeps.length === 0) {
    console.log(`${where}: no sweeps yet (genmeasures run width --preset quick --db ${isPostgresUrl(db) ? 'URL --enqueue' : db})`);
    return;
  }
  const queue = isPostgresUrl(db);
  const head = ['sweep', 'runs', ...(queue ? ['queued', 'running'] : []), 'done', 'failed', queue ? 'not queued' : 'not run', 'last started'];
  const rows = sweeps.map((s) => [`${s.experiment} (${s.preset}) ${s.planKey.slice(0, 8)}`, String(s.total), ...(queue ? [String(s.queued), String(s.running)] : []), String(s.done), String(s.failed), String(s.notQueued), s.lastRunAt.replace('T', ' ').slice(0, 19)]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ').trimEnd();
  console.log(where);
  console.log(fmt(head));
  for (const r of rows) console.log(fmt(r));
}
