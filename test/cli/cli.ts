/** Run the built CLI (dist/src/cli/main.js) as a user would, and check error output. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd: opts.cwd,
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 120000,
    env: { ...process.env, FORCE_COLOR: '0' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A user error: exit code 2, exactly one line on stderr containing every part, no stack trace. */
export function assertUserError(r: CliResult, ...parts: (string | RegExp)[]): void {
  assert.equal(r.code, 2, `exit code should be 2, got ${r.code}; stderr: ${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `stderr should be one line, got:\n${r.stderr}`);
  assert.ok(!/\n\s+at /.test(r.stderr), 'no stack trace');
  for (const p of parts) {
    if (typeof p === 'string') assert.ok(lines[0].includes(p), `"${lines[0]}" should contain "${p}"`);
    else assert.match(lines[0], p);
  }
}
