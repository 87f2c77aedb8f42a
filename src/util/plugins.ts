/**
 * Plugins: ES modules the CLI imports before it works (`--plugin FILE` of `measure` and `run`), e.g. a
 * module whose top level calls defineMeasure. The experiment workers import the same files (runner.ts
 * passes them in the worker's init message), so that a user measure is computed there too.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { UserError, isUserError } from '../errors.js';

/** Import a plugin module (a file path or a file: URL); one that cannot be loaded is a UserError naming it. */
export async function importPlugin(file: string): Promise<void> {
  const url = /^file:/.test(file) ? file : pathToFileURL(path.resolve(file)).href;
  try {
    await import(url);
  } catch (e) {
    if (isUserError(e)) throw new UserError(`--plugin ${file}: ${(e as Error).message}`);
    throw new UserError(`--plugin ${file}: cannot be loaded (${(e as Error).message.split('\n')[0]})`);
  }
}

/**
 * The --plugin file of a command line, read before the line is parsed (null without one): a plugin's
 * measures and options must be registered before the parser checks the flags (a plugin's --my-option) and
 * before --help lists the measures. As the parser does, the last --plugin counts; `--` ends the options.
 */
export function pluginInArgv(argv: string[]): string | null {
  let file: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') break;
    if (a === '--plugin' && i + 1 < argv.length) file = argv[++i];
    else if (a.startsWith('--plugin=')) file = a.slice('--plugin='.length);
  }
  return file;
}

/** Import the --plugin of a command line before it is parsed (a command's `prepare`, see cli/main.ts). */
export async function preparePlugin(argv: string[]): Promise<void> {
  const file = pluginInArgv(argv);
  if (file !== null) await importPlugin(file);
}
