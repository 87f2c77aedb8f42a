#!/usr/bin/env node
/**
 * genmeasures command line: a thin layer over the library. Each command lives in its own file and
 * exports `command` (its option table) and `run(options, positionals)`. UserErrors are printed as one
 * line and exit with code 2; so are, as a last resort, file-system failures of the environment that a
 * command did not map itself (disk full, read-only, permission denied, …: see environmentError);
 * anything else is a bug and keeps its stack trace (exit 1).
 */
import { isUserError } from '../errors.js';
import { errnoCause, isErrnoError } from '../util/output.js';
import { helpText, parseCommand, CommandDef, ParsedOptions } from './args.js';

interface CommandModule {
  command: CommandDef;
  /** Resolves to nothing (success) or to the process exit code. */
  run(options: ParsedOptions, positionals: string[]): Promise<void | number>;
  /** Work before the arguments are parsed: import the --plugin, whose measures and flags the parser and --help must know. */
  prepare?(argv: string[]): Promise<void>;
}

const COMMANDS: Record<string, () => Promise<CommandModule>> = {
  train: () => import('./train.js'),
  measure: () => import('./measure.js'),
  run: () => import('./run.js'),
  export: () => import('./export.js'),
  report: () => import('./report.js'),
  'export-model': () => import('./exportModel.js'),
  worker: () => import('./worker.js'),
  status: () => import('./status.js'),
};

async function loadCommands(): Promise<Record<string, () => Promise<CommandModule>>> {
  return COMMANDS;
}

/** Errno codes that say something about the user's environment (not a bug): reported as one line. */
const ENVIRONMENT_CODES = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EACCES', 'EPERM', 'EEXIST', 'ENOTDIR', 'EISDIR', 'ENAMETOOLONG', 'EMFILE', 'ENFILE', 'EFBIG', 'EIO']);

/** One line for an unmapped environment failure ("PATH: no space left on the device"), or null for a bug. */
export function environmentError(e: unknown): string | null {
  if (!isErrnoError(e) || !ENVIRONMENT_CODES.has(e.code!)) return null;
  return `${e.path ? `${e.path}: ` : ''}${errnoCause(e)}${(e as { dest?: string }).dest ? ` (→ ${(e as { dest?: string }).dest})` : ''}`;
}

function usage(names: string[], summaries: Record<string, string>): string {
  return [
    'genmeasures: what explains how well a neural network generalizes? (Neyshabur et al., NIPS 2017)',
    '',
    'Usage: genmeasures <command> [options]',
    '',
    'Commands:',
    ...names.map((n) => `  ${n.padEnd(14)}${summaries[n] ?? ''}`),
    '',
    'Run `genmeasures <command> --help` for the options of a command.',
    'First run: genmeasures train --data mnist --model mlp:512 --train-size 2000 --seed 1 --out runs/first',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const commands = await loadCommands();
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    const summaries: Record<string, string> = {};
    for (const [n, load] of Object.entries(commands)) summaries[n] = (await load()).command.summary;
    console.log(usage(Object.keys(commands), summaries));
    return 0;
  }
  if (name === '--version' || name === '-v') {
    console.log('genmeasures 0.1.0');
    return 0;
  }
  const load = commands[name];
  if (!load) {
    console.error(`genmeasures: unknown command "${name}" (commands: ${Object.keys(commands).join(', ')})`);
    return 2;
  }
  const mod = await load();
  try {
    if (mod.prepare) await mod.prepare(rest);
    const { options, positionals, help } = parseCommand(mod.command, rest);
    if (help) {
      console.log(helpText(mod.command));
      return 0;
    }
    const code = await mod.run(options, positionals);
    return typeof code === 'number' ? code : 0;
  } catch (e) {
    if (isUserError(e)) {
      console.error(`genmeasures ${name}: ${e.message}`);
      return 2;
    }
    const env = environmentError(e);
    if (env !== null) {
      console.error(`genmeasures ${name}: ${env}`);
      return 2;
    }
    throw e;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    console.error(e);
    process.exitCode = 1;
  },
);
