/** `genmeasures report`: the paper's figures, a ranking of the measures, and the runs, as an HTML report. */
import path from 'node:path';
import { CommandDef, ParsedOptions } from './args.js';
import { loadReportRuns, toReportRun } from '../report/fromStore.js';
import { isPostgresUrl, openResults } from '../experiments/sink.js';
import { redactUrl } from '../experiments/postgres.js';
import { dbOption, resolveDb } from './db.js';
import { writeReport, type RenderedFigure } from '../report/html.js';
import type { MeasureRanking } from '../report/ranking.js';
import type { ReportRun } from '../report/figures.js';
import { makeDirLikeMkdir } from '../util/dirs.js';
import { checkOutputFolder, dbUserError, writeFolderAtomic, type FolderRule } from '../util/output.js';

export const command: CommandDef = {
  name: 'report',
  summary: 'draw the paper\'s figures and rank the measures, from a results database, as an HTML report',
  usage: 'genmeasures report [--db FILE|URL] [--out DIR]',
  options: {
    db: dbOption(),
    out: { type: 'string', value: 'DIR', default: path.join('runs', 'report'), help: 'folder for index.html and the figures (SVG and PNG); an existing report folder (one with index.html) is replaced, any other non-empty folder or a file is refused' },
  },
  epilog: [
    'The report is written into a temporary folder beside DIR and renamed into place at the end: a failure',
    '(e.g. a full disk) leaves DIR as it was. A symbolic link DIR is followed (the folder it points to is replaced).',
    '',
    'Example:',
    '  genmeasures run width --preset quick && genmeasures report && open runs/report/index.html',
  ].join('\n'),
};

const REPORT_FOLDER: FolderRule = { marker: 'index.html', what: 'a genmeasures report', replace: true };

export async function run(o: ParsedOptions): Promise<void> {
  const out = String(o.out);
  const db = resolveDb(o);
  // Checked before any work: a file, a foreign folder, a read-only or impossible place fails at once.
  const target = checkOutputFolder(out, '--out', REPORT_FOLDER);
  let runs: ReportRun[];
  try {
    if (isPostgresUrl(db)) {
      const sink = await openResults(db, { mustExist: true });
      try {
        runs = (await sink.listRuns()).map(toReportRun);
      } finally {
        await sink.close();
      }
    } else runs = loadReportRuns(db);
  } catch (e) {
    throw dbUserError(e, '--db', db);
  }
  let written: { figures: RenderedFigure[]; ranking: MeasureRanking[] } | null = null;
  await writeFolderAtomic(
    target,
    '--out',
    out,
    async (tmp) => {
      makeDirLikeMkdir(tmp); // mkdtemp makes 0700 folders: the report folder gets the mode mkdir gives (umask)
      written = await writeReport(runs, { outDir: tmp, source: isPostgresUrl(db) ? redactUrl(db) : db });
    },
    () => checkOutputFolder(out, '--out', REPORT_FOLDER), // whatever appeared at DIR meanwhile must still be replaceable
  );
  const { figures, ranking } = written!;
  const file = path.join(out, 'index.html');
  const converged = runs.filter((r) => r.converged).length;
  console.log(`${runs.length} runs (${converged} converged) from ${isPostgresUrl(db) ? redactUrl(db) : db}`);
  for (const f of figures) {
    console.log(`  ${f.figure.id.padEnd(15)} ${f.svg ? `${f.figure.runs} runs → ${path.join(out, f.figure.id)}.svg, .png` : `no data: ${f.figure.empty}`}`);
  }
  const top = ranking.filter((r) => r.tau !== null).slice(0, 5);
  if (top.length) console.log(`best predictors of the generalization gap (Kendall τ): ${top.map((r) => `${r.measure} ${r.tau!.toFixed(2)}`).join(', ')}`);
  process.stderr.write(`wrote ${file}\n`);
}
