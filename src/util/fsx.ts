/** Small file-system helpers: atomic writes (temporary file, then rename), readable errors. */
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
import { fsUserError } from './output.js';

/**
 * Write a file atomically: nothing half-written is ever left under `file`'s name (a temporary file in
 * the same folder, then renamed; missing folders are created). For the program's own files (run folders,
 * report figures); a path the user names goes through util/output.ts, which also handles devices,
 * FIFOs, symbolic links and standard output. With `option`, a file-system failure (disk full, read-only,
 * permission denied, …) becomes a one-line UserError "OPTION: FILE: cause"; without, the error is
 * thrown as it is (for callers that map it themselves).
 */
export function writeFileAtomic(file: string, data: string | Uint8Array, option?: string): void {
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, file);
  } catch (e) {
    try {
      fs.rmSync(tmp, { force: true });
    } catch {
      /* ignore */
    }
    throw option === undefined ? e : fsUserError(e, option, file);
  }
}

export function readFileOrFail(file: string, what: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UserError(`${what}: ${file} does not exist`);
    if (code === 'EISDIR') throw new UserError(`${what}: ${file} is a folder, not a file`);
    throw new UserError(`${what}: cannot read ${file} (${code ?? (e as Error).message})`);
  }
}

export function readJsonOrFail(file: string, what: string): any {
  const buf = readFileOrFail(file, what);
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch (e) {
    throw new UserError(`${what}: ${file} is not valid JSON (${(e as Error).message})`);
  }
}
