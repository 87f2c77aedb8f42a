/**
 * Folder permissions. fs.mkdtempSync always creates its folder with mode 0700, whatever the umask: a run
 * folder written into a temporary folder and renamed into place would stay private to its owner, unlike
 * every folder mkdir makes. makeDirLikeMkdir gives such a folder the mode mkdir would have given it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

/**
 * The permission bits a new folder made by mkdir inside `dir` gets (0777 less the umask, or what the
 * folder's default ACL says), found by making one: no process-wide umask is read or changed.
 */
export function mkdirModeIn(dir: string): number {
  for (let attempt = 0; ; attempt++) {
    const probe = path.join(dir, `.mode-probe.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      fs.mkdirSync(probe);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST' && attempt < 5) continue;
      throw e;
    }
    try {
      return fs.statSync(probe).mode & 0o7777;
    } finally {
      fs.rmdirSync(probe);
    }
  }
}

/**
 * Give a folder made by fs.mkdtempSync (mode 0700) the permissions fs.mkdirSync would have given it
 * (0777 & ~umask, e.g. 0755 under umask 022). The folder's contents are not touched.
 */
export function makeDirLikeMkdir(dir: string): void {
  fs.chmodSync(dir, mkdirModeIn(dir));
}
