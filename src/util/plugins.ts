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
