/**
 * The --db option of run, export, report, worker and status: a SQLite file or a postgres:// URL. When
 * --db is not given, DATABASE_URL (if set) names the database, else the SQLite file runs/genmeasures.db.
 */
import { DEFAULT_DB } from '../experiments/store.js';
import type { OptionDef, ParsedOptions } from './args.js';

export const DB_HELP = 'results database: a SQLite file, or a PostgreSQL URL postgres://USER:PASSWORD@HOST:PORT/DATABASE [default: $DATABASE_URL if set, else runs/genmeasures.db]';

export function dbOption(help = DB_HELP): OptionDef {
  return { type: 'string', value: 'FILE|URL', help };
}

export function resolveDb(o: ParsedOptions): string {
  if (o.db !== undefined) return String(o.db);
  const env = process.env.DATABASE_URL;
  return env && env.trim() ? env.trim() : DEFAULT_DB;
}
