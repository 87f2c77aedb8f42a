/** `genmeasures report`: the paper's figures, a ranking of the measures, and the runs, as an HTML report. */
import path from 'node:path';
import { CommandDef, ParsedOptions } from './args.js';
import { DEFAULT_DB } from '../experiments/store.js';
import { loadReportRuns } from '../report/fromStore.js';
import { writeReport } from '../report/html.js';

export const command: CommandDef = {
  name: 'report',
  summary: 'draw the paper\'s figures and rank the measures, from a results database, as an HTML report',
  usage: 'genmeasures report [--db FILE] [--out DIR]',
  options: {
    db: { type: 'string', value: 'FILE', default: DEFAULT_DB, help: 'results database written by `genmeasures run`' },
    out: { type: 'string', value: 'DIR', default: path.join('runs', 'report'), help: 'folder for index.html and the figures (SVG and PNG)' },
  },
  epilog: 'Example:\n  genmeasures run width --preset quick && genmeasures report && open runs/report/index.html',
};

export async function run(o: ParsedOptions): Promise<void> {
  const runs = loadReportRuns(String(o.db));
  const out = String(o.out);
  const { file, figures, ranking } = await writeReport(runs, { outDir: out, source: String(o.db) });
  const converged = runs.filter((r) => r.converged).length;
  console.log(`${runs.length} runs (${converged} converged) from ${o.db}`);
  for (const f of figures) {
    console.log(`  ${f.figure.id.padEnd(15)} ${f.svg ? `${f.figure.runs} runs → ${path.join(out, f.figure.id)}.svg, .png` : `no data: ${f.figure.empty}`}`);
  }
  const top = ranking.filter((r) => r.tau !== null).slice(0, 5);
  if (top.length) console.log(`best predictors of the generalization gap (Kendall τ): ${top.map((r) => `${r.measure} ${r.tau!.toFixed(2)}`).join(', ')}`);
  console.log(`wrote ${file}`);
}
