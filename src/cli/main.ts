#!/usr/bin/env node
/**
 * genmeasures command line: a thin layer over the library. Each command lives in its own file and
 * exports `command` (its option table) and `run(options, positionals)`. UserErrors are printed as one
 * line and exit with code 2; anything else is a bug and keeps its stack trace (exit 1).
 */
import { isUserError } from '../errors.js';
import { helpText, parseCommand, CommandDef, ParsedOptions } from './args.js';

interface CommandModule {
  command: CommandDef;
  /** Resolves to nothing (success) or to the process exit code. */
  run(options: ParsedOptions, positionals: string[]): Promise<void | number>;
}

const COMMANDS: Record<string, () => Promise<CommandModule>> = {
  train: () => import('./train.js'),
  measure: () => import('./measure.js'),
  run: () => import('./run.js'),
  export: () => import('./export.js'),
  report: () => import('./report.js'),
};

async function loadCommands(): Promise<Record<string, () => Promise<CommandModule>>> {
  return COMMANDS;
}

function usage(names: string[], summaries: Record<string, string>): string {
  return [
    'genmeasures: what explains how well a neural network generalizes? (Neyshabur et al., NIPS 2017)',
    '',
    'Usage: genmeasures <command> [options]',
    '',
    'Commands:',
    ...names.map((n) => `  ${n.padEnd(10)}${summaries[n] ?? ''}`),
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
