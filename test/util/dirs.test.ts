import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeDirLikeMkdir, mkdirModeIn } from '../../src/util/dirs.js';

test('a folder made by mkdtemp (0700) gets the mode mkdir gives: 0777 less the umask', () => {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'gm-dirs-'));
  for (const mask of [0o022, 0o027, 0o002]) {
    const old = process.umask(mask);
    try {
      const dir = fs.mkdtempSync(path.join(base, 'x-'));
      assert.equal(fs.statSync(dir).mode & 0o777, 0o700, 'mkdtemp makes private folders');
      fs.writeFileSync(path.join(dir, 'f'), 'x');
      makeDirLikeMkdir(dir);
      assert.equal((fs.statSync(dir).mode & 0o777).toString(8), (0o777 & ~mask).toString(8));
      assert.deepEqual(fs.readdirSync(dir), ['f'], 'nothing else is left in the folder');
      assert.equal(mkdirModeIn(base), 0o777 & ~mask);
    } finally {
      process.umask(old);
    }
  }
});
