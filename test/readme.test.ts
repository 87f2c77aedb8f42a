/**
 * The README's library example runs as written (against the built package, in a temporary folder).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');

test("the README's library example runs", () => {
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Library'));
  const m = /```ts\n([\s\S]*?)```/.exec(section);
  assert.ok(m, 'a ts code block under "## Library"');
  const index = path.join(root, 'dist', 'src', 'index.js');
  const code = m[1].replace("from 'genmeasures'", `from ${JSON.stringify(index)}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gm-readme-'));
  fs.writeFileSync(path.join(dir, 'example.mjs'), code);
  const r = spawnSync(process.execPath, ['example.mjs'], { cwd: dir, encoding: 'utf8', timeout: 300000 });
  assert.equal(r.status, 0, `the example failed:\n${r.stderr}`);
  assert.match(r.stdout, /margin/);
  assert.ok(fs.existsSync(path.join(dir, 'runs', 'a', 'run.json')), 'the example saved its run');
});
