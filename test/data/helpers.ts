/** Shared helpers for the data tests. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../../src/errors.js';

/**
 * Assert that fn throws a UserError whose message is one line and contains every given part
 * (strings are matched literally, regexps with test()).
 */
export function throwsUserError(fn: () => unknown, ...parts: (string | RegExp)[]): UserError {
  let caught: unknown = null;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught !== null, 'expected an error to be thrown');
  assert.ok(caught instanceof UserError, `expected a UserError, got ${String(caught)}`);
  const msg = caught.message;
  assert.ok(!msg.includes('\n'), `message should be one line: ${msg}`);
  for (const p of parts) {
    if (typeof p === 'string') assert.ok(msg.includes(p), `message "${msg}" should contain "${p}"`);
    else assert.match(msg, p);
  }
  return caught;
}

/** A fresh temporary folder; remove it with cleanup(). */
export function tempDir(prefix = 'genmeasures-data-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function cleanup(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
