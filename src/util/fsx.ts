/** Small file-system helpers: atomic writes (temporary file, then rename), readable errors. */
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';

/** Write a file atomically: nothing half-written is ever left under `file`'s name. */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  try {
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, file);
  } catch (e) {
    try {
      fs.rmSync(tmp, { force: true });
    } catch {
      /* ignore */
    }
    throw e;
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
