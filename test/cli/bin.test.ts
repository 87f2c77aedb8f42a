/** The installed command: package.json's bin is the built CLI, executable (npx runs it directly). */
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

test('the bin of package.json is the built CLI and runs as a program (after every build)', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { bin: Record<string, string> };
  const bin = path.join(root, pkg.bin.genmeasures);
  assert.ok(fs.statSync(bin).mode & 0o100, `${bin} is not executable`);
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^genmeasures \d+\.\d+\.\d+/);
});
