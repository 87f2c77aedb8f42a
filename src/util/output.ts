/**
 * Output paths given by the user (--json, --html, --out): checked before any expensive work, written
 * without ever destroying what is not theirs to replace, and every file-system failure reported as one
 * line naming the option, the path and the cause.
 *
 * What a path may be, and how it is written:
 *   -                          standard output
 *   /dev/stdout, /dev/fd/1, …  standard output (/dev/stderr, /dev/fd/2: standard error); /dev/fd/N
 *                              (N > 2) and /proc/self/fd/N are opened and appended to, not replaced
 *   absent, or a regular file  written into a temporary file in the same folder, then renamed into place
 *                              (readers never see half a file; on failure the old file is untouched)
 *   a symbolic link            followed: the file it points to is replaced as above, the link stays a link
 *                              (a dangling link creates its target)
 *   a FIFO or character device written directly (/dev/null stays /dev/null, a named pipe is written to)
 *   a folder, block device,    refused before any work starts
 *   socket
 * The folder that will hold a file must exist and be writable; it is not created.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';

/** What an output path turned out to be (see the module comment). */
export type OutputTarget =
  | { kind: 'stdout'; given: string; option: string }
  | { kind: 'stderr'; given: string; option: string }
  | { kind: 'stream'; given: string; option: string; path: string; append: boolean }
  | { kind: 'file'; given: string; option: string; path: string };

const CAUSES: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EEXIST: 'already exists',
  ENOTDIR: 'a part of the path is not a folder',
  ENOENT: 'no such file or folder',
  EISDIR: 'is a folder',
  ENOTEMPTY: 'folder not empty',
  ENAMETOOLONG: 'name too long',
  ELOOP: 'too many levels of symbolic links',
  ENXIO: 'no such device or address',
  EIO: 'input/output error',
  EBUSY: 'device or resource busy',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
  EFBIG: 'file too large',
  EXDEV: 'cannot move between file systems',
  EPIPE: 'the reader closed the pipe',
  ETXTBSY: 'text file busy',
};

/** Whether `e` is an error from a system call (it has an errno code such as ENOSPC). */
export function isErrnoError(e: unknown): e is NodeJS.ErrnoException {
  return e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string' && /^E[A-Z0-9]+$/.test((e as NodeJS.ErrnoException).code!);
}

/** The cause of an errno error in words ("no space left on the device"). */
export function errnoCause(e: NodeJS.ErrnoException): string {
  return CAUSES[e.code ?? ''] ?? `${e.code}${e.syscall ? ` in ${e.syscall}` : ''}`;
}

/**
 * Turn a file-system error into a UserError "OPTION: PATH: cause" (PATH: the path the user gave; the
 * path the call failed on is added when it is another one, e.g. a folder on the way). UserErrors pass
 * through; any other error (a bug) is returned unchanged.
 */
export function fsUserError(e: unknown, option: string | null, file: string): unknown {
  if (e instanceof UserError || !isErrnoError(e)) return e;
  const where = e.path && path.resolve(e.path) !== path.resolve(file) && !isTemporary(e.path) ? ` (${e.path})` : '';
  return new UserError(`${option ? `${option}: ` : ''}${file}: ${errnoCause(e)}${where}`);
}

const TEMP_MARK = '.genmeasures-tmp-';
function isTemporary(p: string): boolean {
  return p.includes(TEMP_MARK);
}

/** The fd that a /dev/stdout-like path names, or null. */
function fdPath(p: string): number | null {
  if (p === '/dev/stdin') return 0;
  if (p === '/dev/stdout') return 1;
  if (p === '/dev/stderr') return 2;
  const m = /^\/(?:dev\/fd|proc\/(?:self|thread-self|\d+)\/fd)\/(\d+)$/.exec(p);
  if (!m) return null;
  if (!p.startsWith('/proc/self/') && !p.startsWith('/dev/') && !p.startsWith('/proc/thread-self/') && !p.startsWith(`/proc/${process.pid}/`)) return null;
  return Number(m[1]);
}

/** Follow symbolic links by hand (a dangling one gives the path it points to); stops at /dev/fd/N-like paths. */
function followLinks(file: string, option: string): { path: string; fd: number | null } {
  let p = path.resolve(file);
  for (let i = 0; i < 40; i++) {
    const fd = fdPath(p);
    if (fd !== null) return { path: p, fd };
    let st: fs.Stats;
    try {
      st = fs.lstatSync(p);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { path: p, fd: null };
      if ((e as NodeJS.ErrnoException).code === 'ENOTDIR') return { path: p, fd: null }; // reported by the parent check
      throw fsUserError(e, option, file);
    }
    if (!st.isSymbolicLink()) return { path: p, fd: null };
    p = path.resolve(path.dirname(p), fs.readlinkSync(p));
  }
  throw new UserError(`${option}: ${file}: ${CAUSES.ELOOP}`);
}

/**
 * The folder that will hold a new file or folder `p` must exist (unless `create`), be a folder and be
 * writable. With `create`, the nearest existing ancestor must be a writable folder.
 */
export function checkParentFolder(p: string, option: string, given: string, create = false): void {
  let dir = path.dirname(path.resolve(p));
  for (;;) {
    let st: fs.Stats;
    try {
      st = fs.statSync(dir);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && create && path.dirname(dir) !== dir) {
        dir = path.dirname(dir);
        continue;
      }
      if (code === 'ENOENT') throw new UserError(`${option}: ${given}: the folder ${dir} does not exist`);
      if (code === 'ENOTDIR') throw new UserError(`${option}: ${given}: ${firstNonFolder(dir)} is not a folder`);
      throw fsUserError(e, option, given);
    }
    if (!st.isDirectory()) throw new UserError(`${option}: ${given}: ${dir} is not a folder`);
    try {
      fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EROFS') throw new UserError(`${option}: ${given}: the folder ${dir} is on a read-only file system`);
      if (code === 'EACCES' || code === 'EPERM') throw new UserError(`${option}: ${given}: the folder ${dir} is not writable (permission denied)`);
      throw fsUserError(e, option, given);
    }
    // access() does not know every file system (/proc, /sys, FUSE, ACLs): create and remove a probe.
    const probe = path.join(dir, `${TEMP_MARK}probe-${process.pid}-${Math.random().toString(36).slice(2, 10)}`);
    try {
      fs.mkdirSync(probe);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EACCES' || code === 'EPERM' || code === 'ENOENT') throw new UserError(`${option}: ${given}: cannot create files in the folder ${dir} (${errnoCause(e as NodeJS.ErrnoException)})`);
      throw fsUserError(e, option, given);
    }
    fs.rmdirSync(probe);
    return;
  }
}

/** The first ancestor of `dir` (itself included) that exists and is not a folder, for ENOTDIR messages. */
function firstNonFolder(dir: string): string {
  const parts = path.resolve(dir).split(path.sep);
  let p: string = path.sep;
  for (const part of parts.filter(Boolean)) {
    p = path.join(p, part);
    try {
      if (!fs.statSync(p).isDirectory()) return p;
    } catch {
      return p;
    }
  }
  return dir;
}

/**
 * Check an output file given with `option` before any work starts, and say how it will be written.
 * Refuses a folder, a block device, a socket, a missing or non-writable folder, a read-only file.
 */
export function checkOutputFile(given: string, option: string): OutputTarget {
  if (given === '') throw new UserError(`${option}: the file name is empty (use - for standard output)`);
  if (given === '-') return { kind: 'stdout', given, option };
  const { path: p, fd } = followLinks(given, option);
  if (fd === 1) return { kind: 'stdout', given, option };
  if (fd === 2) return { kind: 'stderr', given, option };
  if (fd !== null) {
    try {
      fs.fstatSync(fd);
    } catch {
      throw new UserError(`${option}: ${given}: file descriptor ${fd} is not open`);
    }
    return { kind: 'stream', given, option, path: p, append: true };
  }
  const st = statIfExists(p, option, given);
  if (st === null) {
    checkParentFolder(p, option, given);
    return { kind: 'file', given, option, path: p };
  }
  if (st.isDirectory()) throw new UserError(`${option}: ${given} is a folder, not a file`);
  if (st.isFIFO() || st.isCharacterDevice()) {
    try {
      fs.accessSync(p, fs.constants.W_OK);
    } catch (e) {
      throw fsUserError(e, option, given);
    }
    return { kind: 'stream', given, option, path: p, append: false };
  }
  if (st.isBlockDevice()) throw new UserError(`${option}: ${given} is a block device; refusing to write over it`);
  if (st.isSocket()) throw new UserError(`${option}: ${given} is a socket, not a file`);
  try {
    fs.accessSync(p, fs.constants.W_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') throw new UserError(`${option}: ${given} is read-only (permission denied)`);
    throw fsUserError(e, option, given);
  }
  checkParentFolder(p, option, given);
  return { kind: 'file', given, option, path: p };
}

/** Whether two targets are the same place (both standard output, or the same file). */
export function sameTarget(a: OutputTarget, b: OutputTarget): boolean {
  if (a.kind === 'stdout' || b.kind === 'stdout' || a.kind === 'stderr' || b.kind === 'stderr') return a.kind === b.kind;
  if (a.path === b.path) return true;
  try {
    const sa = fs.statSync(a.path);
    const sb = fs.statSync(b.path);
    return sa.dev === sb.dev && sa.ino === sb.ino;
  } catch {
    return false;
  }
}

let stdoutGuarded = false;
/** A reader that closed standard output early (`| head`) ends the program quietly, as other tools do. */
export function exitQuietlyOnEpipe(): void {
  if (stdoutGuarded) return;
  stdoutGuarded = true;
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
}

/** A temporary name beside `p`, in the same folder (so rename is atomic). */
export function temporaryBeside(p: string): string {
  const rand = Math.random().toString(36).slice(2, 10);
  return path.join(path.dirname(p), `.${path.basename(p)}${TEMP_MARK}${process.pid}-${rand}`);
}

/**
 * Write `data` to an output checked by checkOutputFile (or to a path, checked now). Errors from the
 * file system become one-line UserErrors naming the option and the path.
 */
export function writeOutput(target: OutputTarget | string, data: string | Uint8Array, option = '--out'): void {
  const t = typeof target === 'string' ? checkOutputFile(target, option) : target;
  if (t.kind === 'stdout') {
    exitQuietlyOnEpipe();
    process.stdout.write(data);
    return;
  }
  if (t.kind === 'stderr') {
    process.stderr.write(data);
    return;
  }
  if (t.kind === 'stream') {
    try {
      const fd = fs.openSync(t.path, fs.constants.O_WRONLY | (t.append ? fs.constants.O_APPEND : 0));
      try {
        fs.writeFileSync(fd, data);
      } finally {
        fs.closeSync(fd);
      }
    } catch (e) {
      throw fsUserError(e, t.option, t.given);
    }
    return;
  }
  const tmp = temporaryBeside(t.path);
  try {
    let mode: number | undefined;
    try {
      mode = fs.statSync(t.path).mode & 0o7777;
    } catch {
      /* a new file */
    }
    fs.writeFileSync(tmp, data, { flag: 'wx', mode: mode ?? 0o666 });
    if (mode !== undefined) fs.chmodSync(tmp, mode); // the umask does not apply to a replaced file
    // It was a regular file or absent when checked; if a folder or device took its place since, do not replace it.
    const now = statOrNull(t.path);
    if (now && !now.isFile()) throw new UserError(`${t.option}: ${t.given} is no longer a regular file; not replaced`);
    fs.renameSync(tmp, t.path);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw fsUserError(e, t.option, t.given);
  }
}

function statOrNull(p: string): fs.Stats | null {
  try {
    return fs.statSync(p);
  } catch {
    return null;
  }
}

/** What may be replaced when an output folder already exists. */
export interface FolderRule {
  /** A file whose presence marks a folder this program wrote and may replace (run.json, index.html). */
  marker: string;
  /** What such a folder is called in messages ("a genmeasures run folder"). */
  what: string;
  /** Replace a marked non-empty folder (false: refuse any non-empty folder). */
  replace: boolean;
  /** Hint added when a non-empty marked folder is refused because `replace` is false. */
  replaceHint?: string;
}

/** Resolve an output folder path: symbolic links are followed (the folder they point to is replaced). */
export function resolveFolder(given: string, option: string): string {
  if (given === '') throw new UserError(`${option}: the folder name is empty`);
  if (given === '-') throw new UserError(`${option}: - (standard output) cannot be used here: the output is a folder`);
  const { path: p, fd } = followLinks(given, option);
  if (fd !== null) throw new UserError(`${option}: ${given} is not a folder`);
  return p;
}

/**
 * Check an output folder before any work starts. It may be absent (its missing parents are created
 * later), empty, or a non-empty folder holding `rule.marker` when `rule.replace`; anything else is
 * refused. Returns the resolved path.
 */
export function checkOutputFolder(given: string, option: string, rule: FolderRule): string {
  const p = resolveFolder(given, option);
  const st = statIfExists(p, option, given);
  if (st) {
    if (!st.isDirectory()) throw new UserError(`${option}: ${given} already exists and is not a folder`);
    let entries: string[];
    try {
      entries = fs.readdirSync(p);
    } catch (e) {
      throw fsUserError(e, option, given);
    }
    if (entries.length > 0) {
      const marked = entries.includes(rule.marker);
      if (!marked) throw new UserError(`${option}: ${given} is a folder that is not ${rule.what} (it has no ${rule.marker}); refusing to replace it: choose another folder`);
      if (!rule.replace) throw new UserError(`${option}: ${given} is not empty (it holds ${rule.what})${rule.replaceHint ? `; ${rule.replaceHint}` : ''}`);
    }
  }
  checkParentFolder(p, option, given, true);
  return p;
}

/**
 * Write a folder atomically: `fill` writes into a temporary sibling folder, which then takes the place
 * of `target` (an existing folder is moved aside first and deleted only once the new one is in place;
 * on any failure it is put back and the temporary folder removed). `check`, if given, runs just before
 * the swap (to refuse a folder that appeared meanwhile). Without `replace`, a non-empty folder at
 * `target` is never replaced, not even one that appears after `check` (the rename fails instead).
 * File-system errors become one-line UserErrors.
 */
export function writeFolderAtomicSync(target: string, option: string, given: string, fill: (tmp: string) => void, check?: () => void, replace = true): void {
  const { tmp } = prepareTemporaryFolder(target, option, given);
  try {
    fill(tmp);
    check?.();
    swapFolder(tmp, target, replace);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw fsUserError(e, option, given);
  }
}

/** As writeFolderAtomicSync, with an asynchronous `fill`. */
export async function writeFolderAtomic(target: string, option: string, given: string, fill: (tmp: string) => Promise<void>, check?: () => void, replace = true): Promise<void> {
  const { tmp } = prepareTemporaryFolder(target, option, given);
  try {
    await fill(tmp);
    check?.();
    swapFolder(tmp, target, replace);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw fsUserError(e, option, given);
  }
}

function prepareTemporaryFolder(target: string, option: string, given: string): { tmp: string } {
  const abs = path.resolve(target);
  try {
    fs.mkdirSync(path.dirname(abs), { recursive: true });
    return { tmp: fs.mkdtempSync(path.join(path.dirname(abs), `.${path.basename(abs)}${TEMP_MARK}`)) };
  } catch (e) {
    throw fsUserError(e, option, given);
  }
}

/**
 * Put the folder `tmp` in the place of `target`, keeping the old one until the new one is there.
 * Without `replace`, a plain rename: it fails (ENOTEMPTY/EEXIST) if a non-empty folder is at `target`.
 */
export function swapFolder(tmp: string, target: string, replace = true): void {
  const abs = path.resolve(target);
  if (!replace || !statOrNull(abs)) {
    fs.renameSync(tmp, abs);
    return;
  }
  const old = `${tmp}-old`;
  fs.renameSync(abs, old);
  try {
    fs.renameSync(tmp, abs);
  } catch (e) {
    fs.renameSync(old, abs);
    throw e;
  }
  try {
    fs.rmSync(old, { recursive: true, force: true });
  } catch {
    /* the new folder is in place; a leftover hidden copy of the old one is harmless */
  }
}

/** A one-line error for a SQLite failure on the database `file` (read-only file system, disk full, …), or `e` itself. */
export function dbUserError(e: unknown, option: string, file: string): unknown {
  if (e instanceof UserError) return e;
  const code = (e as { code?: unknown })?.code;
  if (typeof code !== 'string') return e;
  if (isErrnoError(e)) return fsUserError(e, option, file);
  if (!code.startsWith('SQLITE_')) return e;
  let cause: string;
  const journal = 'genmeasures opens its database for writing and keeps its journal beside it';
  const why = readOnlyCause(file);
  if (code.startsWith('SQLITE_READONLY') || code.startsWith('SQLITE_CANTOPEN')) {
    cause = why ? `${why} (${journal})` : code.startsWith('SQLITE_READONLY') ? `the database cannot be written (${journal})` : 'cannot open the database or its journal';
  } else if (code === 'SQLITE_FULL') cause = 'no space left on the device';
  else if (code.startsWith('SQLITE_IOERR')) cause = `input/output error (${(e as Error).message})`;
  else if (code.startsWith('SQLITE_PERM') || code.startsWith('SQLITE_AUTH')) cause = 'permission denied';
  else return e;
  return new UserError(`${option}: ${file}: ${cause}`);
}

/** Why a file or its folder cannot be written ("read-only file system", "permission denied"), or null. */
function readOnlyCause(file: string): string | null {
  for (const p of [file, path.dirname(path.resolve(file))]) {
    try {
      fs.accessSync(p, fs.constants.W_OK);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EROFS') return 'read-only file system';
      if (code === 'EACCES' || code === 'EPERM') return p === file ? 'the file is read-only (permission denied)' : `its folder ${p} is not writable (permission denied)`;
    }
  }
  return null;
}

/** fs.statSync, or null when nothing is at p (a missing entry or a path through a file); other errors are one line. */
function statIfExists(p: string, option: string, given: string): fs.Stats | null {
  try {
    return fs.statSync(p);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw fsUserError(e, option, given);
    return null;
  }
}
