/** `genmeasures export`: every run of a results database, with its configuration and measures, as CSV or JSON. */
import { CommandDef, ParsedOptions } from './args.js';
import { UserError } from '../errors.js';
import { EXPERIMENT_NAMES } from '../experiments/plan.js';
import { toCsv, toJson } from '../experiments/export.js';
import { openResults } from '../experiments/sink.js';
import { dbOption, resolveDb } from './db.js';
import { checkOutputFile, dbUserError, writeOutput } from '../util/output.js';
import { preparePlugin } from '../util/plugins.js';

export const command: CommandDef = {
  name: 'export',
  summary: 'write every recorded run (configuration, status, errors, measures) as CSV or JSON',
  usage: 'genmeasures export [--db FILE|URL] --format csv|json [--out FILE] [--experiment NAME]',
  options: {
    db: dbOption(),
    format: { type: 'string', value: 'FORMAT', choices: ['csv', 'json'], help: 'csv: one row per run, one column per configuration field and per measure; json: an array of objects (with the PAC-Bayes curve, notes and training history)' },
    out: { type: 'string', value: 'FILE', help: 'write to FILE instead of standard output (- : standard output; a regular file is replaced atomically, a symbolic link is followed, a FIFO or device is written directly)' },
    experiment: { type: 'string', value: 'NAME', choices: [...EXPERIMENT_NAMES], help: 'only the runs of one experiment' },
    status: { type: 'string', value: 'STATUS', choices: ['done', 'failed'], help: 'only finished or only failed runs [default: both]' },
    plugin: { type: 'string', value: 'FILE', help: 'the ES module given to run --plugin: its options get columns (with their defaults filled in) and its measures their place in the column order' },
  },
  epilog: [
    'Runs that did not converge are exported with converged = false; leave them out of comparisons.',
    '',
    'Examples:',
    '  genmeasures export --format csv > runs.csv',
    '  genmeasures export --db /tmp/gm/genmeasures.db --format json --out runs.json --experiment width',
  ].join('\n'),
};

/** --plugin is imported before the options are parsed (as for measure and run). */
export const prepare = preparePlugin;

export async function run(o: ParsedOptions): Promise<void> {
  if (o.format === undefined) throw new UserError('--format csv|json is required');
  // Checked before the database is read: a bad --out fails at once.
  const target = checkOutputFile(o.out === undefined ? '-' : String(o.out), '--out');
  const db = resolveDb(o);
  let text: string;
  try {
    const sink = await openResults(db, { mustExist: true });
    try {
      const runs = await sink.listRuns({ experiment: o.experiment as string | undefined, status: o.status as 'done' | 'failed' | undefined });
      text = o.format === 'csv' ? toCsv(runs) : toJson(runs);
    } finally {
      await sink.close();
    }
  } catch (e) {
    throw dbUserError(e, '--db', db);
  }
  // A closed pipe (e.g. `| head`) is not an error (writeOutput ends quietly on EPIPE).
  writeOutput(target, text);
}
