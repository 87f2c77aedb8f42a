/**
 * Output paths (--json, --html, --out of measure, export, report, train): what each kind of path does,
 * that bad ones fail before any work, and that environment failures (disk full, read-only, forbidden)
 * are one line naming the option, the path and the cause, with nothing pre-existing changed and nothing
 * half-written left behind.
 *
 * Disk-full and read-only file systems are real when the machine allows private mount namespaces
 * (`unshare -m`, as root: a small tmpfs filled up, a read-only bind mount, visible only to that
 * process); permission denied is real when `setpriv` can drop to an unprivileged user. Elsewhere those
 * tests are skipped, and the errno mapping is still covered with fake errors.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { CLI, assertUserError, runCli, type CliResult } from './cli.js';
import { Store } from '../../src/experiments/store.js';
import { UserError } from '../../src/errors.js';
import { checkOutputFile, checkOutputFolder, fsUserError, writeFolderAtomic, writeOutput } from '../../src/util/output.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'gm-outputs-'));
fs.chmodSync(root, 0o755); // readable by the unprivileged user of the permission tests
process.on('exit', () => fs.rmSync(root, { recursive: true, force: true }));
let counter = 0;
const tmp = (name = 'd') => {
  const d = path.join(root, `${name}-${counter++}`);
  fs.mkdirSync(d, { mode: 0o755 });
  return d;
};

const TRAIN = ['--data', 'synthetic:n=64,test=16,shape=4x4x1,classes=3', '--model', 'mlp:4', '--max-epochs', '2', '--threads', '1', '--quiet'];

/** One trained run (a second) and an empty results database, shared by the tests. */
const base = tmp('base');
const RUN = path.join(base, 'run');
{
  const r = runCli(['train', ...TRAIN, '--out', RUN]);
  assert.equal(r.code, 0, r.stderr);
}
const DB = path.join(base, 'g.db');
Store.open(DB).close();
for (const f of fs.readdirSync(base)) if (f.startsWith('g.db-')) fs.rmSync(path.join(base, f));

const MEASURE = ['measure', '--model', path.join(RUN, 'model.json'), '--data', RUN, '--measures', 'l2,margin', '--threads', '1', '--quiet'];
/** A measure call that would take minutes: a bad output path must fail long before. */
const SLOW_MEASURE = ['measure', '--model', path.join(RUN, 'model.json'), '--data', RUN, '--measures', 'expected_sharpness', '--samples', '1000000', '--threads', '1', '--quiet'];

/** Every file under `dir` (relative paths, hidden ones included), sorted. */
function listing(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      out.push(r);
      if (e.isDirectory()) walk(path.join(d, e.name), r);
    }
  };
  walk(dir, '');
  return out.sort();
}

/** No temporary file or folder of an atomic write is left in `dir`. */
function assertNoLeftovers(dir: string): void {
  const left = listing(dir).filter((f) => /genmeasures-tmp|\.tmp($|-)/.test(f));
  assert.deepEqual(left, [], `temporary files left in ${dir}`);
}

function timed(args: string[], opts: { cwd?: string } = {}): CliResult & { ms: number } {
  const t0 = Date.now();
  const r = runCli(args, { ...opts, timeoutMs: 30000 });
  return { ...r, ms: Date.now() - t0 };
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * A private mount namespace (mounts made there are seen by nothing else) and pid namespace (when the
 * test gives up on a call, everything started in it is killed, not left running).
 */
const UNSHARE = ['-m', '--propagation', 'private', '--fork', '--pid', '--kill-child'];

/** Whether private mount namespaces work here (root, or user namespaces with mounts allowed). */
const CAN_MOUNT = (() => {
  if (process.platform !== 'linux') return false;
  const d = tmp('probe');
  const r = spawnSync('unshare', [...UNSHARE, 'sh', '-c', `mount -t tmpfs -o size=64k none ${q(d)} && mount --bind ${q(d)} ${q(d)} && mount -o remount,bind,ro ${q(d)}`], { encoding: 'utf8' });
  return r.status === 0;
})();

/**
 * Run the CLI where writing to /dev/null, /dev/stdout, … can do no harm even if genmeasures got it
 * wrong (a rename over /dev/null, as root, replaces the machine's /dev/null): as root, in a private
 * mount namespace whose /dev is a copy of the few entries needed; as another user directly (/dev is
 * not writable). Returns the result and the folder standing for /dev, or null where neither is possible.
 */
function runDev(args: string[], cwd?: string): (CliResult & { dev: string }) | null {
  if (process.getuid?.() !== 0) return { ...runCli(args, { cwd }), dev: '/dev' };
  if (!CAN_MOUNT) return null;
  const dev = tmp('dev');
  for (const e of ['null', 'zero', 'full', 'random', 'urandom', 'tty', 'stdin', 'stdout', 'stderr', 'fd']) {
    if (fs.existsSync(`/dev/${e}`)) spawnSync('cp', ['-a', `/dev/${e}`, dev]);
  }
  const r = spawnSync('unshare', [...UNSHARE, 'sh', '-c', `mount --bind ${q(dev)} /dev && exec ${q(process.execPath)} ${q(CLI)} ${args.map(q).join(' ')}`], {
    cwd,
    encoding: 'utf8',
    timeout: 60000,
    env: { ...process.env, FORCE_COLOR: '0' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, dev };
}
const NO_DEV = process.getuid?.() === 0 && !CAN_MOUNT && 'root without a private mount namespace: /dev could be damaged by a regression';

// ---------------------------------------------------------------------------------------------------
// measure --json / --html: what each kind of path does

test('--json to a symbolic link: the link is followed (its target gets the JSON), the link stays a link', () => {
  const d = tmp();
  const link = path.join(d, 'link.json');
  fs.symlinkSync('target.json', link); // dangling: the target is created
  let r = runCli([...MEASURE, '--json', link]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(fs.lstatSync(link).isSymbolicLink(), 'still a link');
  assert.equal(JSON.parse(fs.readFileSync(path.join(d, 'target.json'), 'utf8')).m, 64);
  // An existing target in another folder is replaced there.
  const other = tmp();
  fs.writeFileSync(path.join(other, 'real.json'), 'old');
  fs.rmSync(link);
  fs.symlinkSync(path.join(other, 'real.json'), link);
  r = runCli([...MEASURE, '--json', link]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(fs.lstatSync(link).isSymbolicLink(), 'still a link');
  assert.equal(JSON.parse(fs.readFileSync(path.join(other, 'real.json'), 'utf8')).m, 64);
  assertNoLeftovers(d);
  assertNoLeftovers(other);
});

test('--json to a FIFO: written into the pipe, the FIFO stays a FIFO', async () => {
  const d = tmp();
  const fifo = path.join(d, 'pipe');
  const mk = spawnSync('mkfifo', [fifo]);
  if (mk.status !== 0) return; // no mkfifo here
  const got = path.join(d, 'got.json');
  const reader = spawn('sh', ['-c', `cat ${q(fifo)} > ${q(got)}`], { stdio: 'ignore' });
  const done = new Promise<number | null>((resolve) => reader.on('exit', resolve));
  try {
    const r = runCli([...MEASURE, '--json', fifo], { timeoutMs: 30000 });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(fs.lstatSync(fifo).isFIFO(), 'still a FIFO');
    assert.equal(await Promise.race([done, new Promise((resolve) => setTimeout(() => resolve('reader still waiting'), 10000))]), 0);
    assert.equal(JSON.parse(fs.readFileSync(got, 'utf8')).m, 64);
  } finally {
    if (reader.exitCode === null) reader.kill();
  }
  assertNoLeftovers(d);
});

test('--json /dev/null is written, not replaced; /dev/full is one line "no space left"', { skip: NO_DEV }, () => {
  const r = runDev([...MEASURE, '--json', '/dev/null'])!;
  assert.equal(r.code, 0, r.stderr);
  assert.ok(fs.lstatSync(path.join(r.dev, 'null')).isCharacterDevice(), '/dev/null is still a device');
  const f = runDev([...MEASURE, '--json', '/dev/full'])!;
  assertUserError(f, '--json', '/dev/full', 'no space left');
  assert.ok(fs.lstatSync(path.join(f.dev, 'full')).isCharacterDevice(), '/dev/full is still a device');
});

test('--json - and --html - write to standard output (no file named "-")', () => {
  const d = tmp();
  const r = runCli([...MEASURE, '--json', '-'], { cwd: d });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).m, 64); // the whole of stdout: no table
  const h = runCli([...MEASURE, '--html', '-'], { cwd: d });
  assert.equal(h.code, 0, h.stderr);
  assert.match(h.stdout, /^<!doctype html>/);
  assert.ok(!h.stdout.includes('measure       value'), 'no table after the HTML');
  assert.deepEqual(fs.readdirSync(d), [], 'no file named "-"');
  const same = path.join(d, 'x');
  assertUserError(runCli([...MEASURE, '--json', same, '--html', same]), '--json', '--html', 'same');
  assertUserError(runCli([...MEASURE, '--json', '-', '--html', '-']), '--json', '--html', 'same');
  assert.deepEqual(fs.readdirSync(d), []);
});

test('--json /dev/stdout and /dev/fd/1 write to standard output; /dev/stdout stays a link', { skip: NO_DEV }, () => {
  const d = tmp();
  for (const p of ['/dev/stdout', '/dev/fd/1']) {
    const r = runDev([...MEASURE, '--json', p], d)!;
    assert.equal(r.code, 0, `${p}: ${r.stderr}`);
    assert.equal(JSON.parse(r.stdout).m, 64, p);
    assert.ok(fs.lstatSync(path.join(r.dev, 'stdout')).isSymbolicLink(), '/dev/stdout is still a link');
  }
  const both = runDev([...MEASURE, '--json', '-', '--html', '/dev/stdout'], d)!;
  assertUserError(both, '--json', '--html', 'same');
  assert.ok(fs.lstatSync(path.join(both.dev, 'stdout')).isSymbolicLink());
  assert.deepEqual(fs.readdirSync(d), []);
});

test('"wrote FILE" goes to standard error; standard output keeps the table', () => {
  const d = tmp();
  const json = path.join(d, 'a.json');
  const html = path.join(d, 'a.html');
  const r = runCli([...MEASURE.filter((a) => a !== '--quiet'), '--json', json, '--html', html]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(!r.stdout.includes('wrote'), r.stdout);
  assert.match(r.stderr, new RegExp(`wrote ${json.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  assert.match(r.stderr, /wrote .*a\.html/);
  assert.match(r.stdout, /^margin\s/m);
  assert.ok(fs.existsSync(json) && fs.existsSync(html));
});

test('bad --json paths fail before any work (a measure that would take minutes ends at once)', () => {
  const d = tmp();
  fs.writeFileSync(path.join(d, 'file.txt'), 'keep');
  const cases: [string, (string | RegExp)[]][] = [
    [d, ['is a folder']],
    [path.join(d, 'missing', 'a.json'), ['missing', 'does not exist']],
    [path.join(d, 'file.txt', 'x.json'), ['file.txt', 'is not a folder']],
    ['/etc/passwd/x', ['/etc/passwd', 'is not a folder']],
    ['/proc/x/y.json', ['/proc/x', 'does not exist']],
    ['', ['empty']],
  ];
  for (const [p, parts] of cases) {
    const r = timed([...SLOW_MEASURE, '--json', p], { cwd: d });
    assertUserError(r, '--json', ...parts);
    assert.ok(r.ms < 5000, `${p}: refused after ${r.ms} ms`);
  }
  const h = timed([...SLOW_MEASURE, '--html', path.join(d, 'missing', 'a.html')], { cwd: d });
  assertUserError(h, '--html', 'does not exist');
  assert.ok(h.ms < 5000);
  assert.deepEqual(fs.readdirSync(d), ['file.txt'], 'nothing created (no missing folder made)');
  assert.equal(fs.readFileSync(path.join(d, 'file.txt'), 'utf8'), 'keep');
});

// ---------------------------------------------------------------------------------------------------
// export --out

test('export --out - , /dev/fd/1, /dev/stdout write to standard output; a folder is refused', () => {
  const d = tmp();
  const r0 = runCli(['export', '--db', DB, '--format', 'json', '--out', '-'], { cwd: d });
  assert.equal(r0.code, 0, r0.stderr);
  assert.deepEqual(JSON.parse(r0.stdout), []);
  if (!NO_DEV) {
    for (const p of ['/dev/fd/1', '/dev/stdout']) {
      const r = runDev(['export', '--db', DB, '--format', 'json', '--out', p], d)!;
      assert.equal(r.code, 0, `${p}: ${r.stderr}`);
      assert.deepEqual(JSON.parse(r.stdout), []);
      assert.ok(fs.lstatSync(path.join(r.dev, 'stdout')).isSymbolicLink(), '/dev/stdout is still a link');
    }
  }
  assert.deepEqual(fs.readdirSync(d), []);
  assertUserError(runCli(['export', '--db', DB, '--format', 'csv', '--out', d]), '--out', 'is a folder');
  assertUserError(runCli(['export', '--db', DB, '--format', 'csv', '--out', path.join(d, 'no', 'x.csv')]), '--out', 'does not exist');
  const out = path.join(d, 'a.csv');
  const r = runCli(['export', '--db', DB, '--format', 'csv', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(fs.readFileSync(out, 'utf8'), /^key,/);
  assertNoLeftovers(d);
});

// ---------------------------------------------------------------------------------------------------
// train --out

test('train --out DIR --force replaces only a run folder (one with run.json); anything else is refused and untouched', () => {
  const d = tmp();
  const foreign = path.join(d, 'photos');
  fs.mkdirSync(foreign);
  fs.writeFileSync(path.join(foreign, 'a.jpg'), 'precious');
  assertUserError(runCli(['train', ...TRAIN, '--out', foreign, '--force']), '--out', 'photos', 'not a genmeasures run folder');
  assert.deepEqual(fs.readdirSync(foreign), ['a.jpg']);
  assert.equal(fs.readFileSync(path.join(foreign, 'a.jpg'), 'utf8'), 'precious');
  // A file, '-', a file on the way: refused before training.
  fs.writeFileSync(path.join(d, 'f'), 'keep');
  assertUserError(runCli(['train', ...TRAIN, '--out', path.join(d, 'f')]), '--out', 'not a folder');
  assertUserError(runCli(['train', ...TRAIN, '--out', path.join(d, 'f', 'x')]), '--out', 'is not a folder');
  assertUserError(runCli(['train', ...TRAIN, '--out', '-']), '--out', 'folder');
  assertUserError(runCli(['train', ...TRAIN, '--out', '/etc/passwd/x']), '--out', '/etc/passwd', 'is not a folder');
  assert.equal(fs.readFileSync(path.join(d, 'f'), 'utf8'), 'keep');
  // A run folder is replaced with --force (and only with it).
  const run = path.join(d, 'run');
  assert.equal(runCli(['train', ...TRAIN, '--out', run]).code, 0);
  fs.writeFileSync(path.join(run, 'note.txt'), 'x');
  assertUserError(runCli(['train', ...TRAIN, '--out', run]), '--out', '--force');
  const r = runCli(['train', ...TRAIN, '--out', run, '--force']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(fs.readdirSync(run).sort(), ['initial', 'model.json', 'run.json', 'weights.bin']);
  assertNoLeftovers(d);
});

// ---------------------------------------------------------------------------------------------------
// report --out

test('report --out: an existing file or a foreign folder is refused and untouched; a report folder is replaced whole', () => {
  const d = tmp();
  const file = path.join(d, 'report');
  fs.writeFileSync(file, 'keep');
  assertUserError(runCli(['report', '--db', DB, '--out', file]), '--out', 'already exists', 'not a folder');
  assert.equal(fs.readFileSync(file, 'utf8'), 'keep');
  const foreign = path.join(d, 'docs');
  fs.mkdirSync(foreign);
  fs.writeFileSync(path.join(foreign, 'thesis.tex'), 'keep');
  assertUserError(runCli(['report', '--db', DB, '--out', foreign]), '--out', 'not a genmeasures report');
  assert.deepEqual(fs.readdirSync(foreign), ['thesis.tex']);
  assertUserError(runCli(['report', '--db', DB, '--out', '-']), '--out', 'folder');
  assertUserError(runCli(['report', '--db', DB, '--out', path.join(file, 'x')]), '--out', 'is not a folder');
  const out = path.join(d, 'rep');
  let r = runCli(['report', '--db', DB, '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(fs.existsSync(path.join(out, 'index.html')));
  assert.ok(!r.stdout.includes('wrote'), 'the "wrote" line goes to stderr');
  assert.match(r.stderr, /wrote .*index\.html/);
  fs.writeFileSync(path.join(out, 'stale.svg'), 'old');
  r = runCli(['report', '--db', DB, '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(fs.readdirSync(out), ['index.html'], 'replaced whole');
  assertNoLeftovers(d);
});

test('writeFolderAtomic: a failure while writing (e.g. disk full) leaves the old folder as it was and no temporary folder', async () => {
  const d = tmp();
  const out = path.join(d, 'rep');
  fs.mkdirSync(out);
  fs.writeFileSync(path.join(out, 'index.html'), 'old report');
  const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });
  await assert.rejects(
    writeFolderAtomic(out, '--out', out, async (tmpDir) => {
      fs.writeFileSync(path.join(tmpDir, 'fig1.svg'), '<svg/>');
      throw Object.assign(enospc, { path: path.join(tmpDir, 'index.html') });
    }),
    (e: unknown) => e instanceof UserError && e.message === `--out: ${out}: no space left on the device`,
  );
  assert.deepEqual(listing(d), ['rep', 'rep/index.html']);
  assert.equal(fs.readFileSync(path.join(out, 'index.html'), 'utf8'), 'old report');
  // A bug (not a file-system error) is not dressed up as a user error, and still cleans up.
  await assert.rejects(
    writeFolderAtomic(out, '--out', out, async () => {
      throw new TypeError('a bug');
    }),
    TypeError,
  );
  assert.deepEqual(listing(d), ['rep', 'rep/index.html']);
  // A successful write replaces the folder.
  await writeFolderAtomic(out, '--out', out, async (tmpDir) => fs.writeFileSync(path.join(tmpDir, 'index.html'), 'new report'));
  assert.deepEqual(listing(d), ['rep', 'rep/index.html']);
  assert.equal(fs.readFileSync(path.join(out, 'index.html'), 'utf8'), 'new report');
});

// ---------------------------------------------------------------------------------------------------
// the library functions

test('fsUserError: every environment errno becomes "OPTION: PATH: cause"; bugs and UserErrors pass through', () => {
  const causes: Record<string, RegExp> = {
    ENOSPC: /no space left/,
    EROFS: /read-only file system/,
    EACCES: /permission denied/,
    EPERM: /not permitted/,
    EEXIST: /already exists/,
    ENOTDIR: /not a folder/,
    ENOENT: /no such file or folder/,
    EISDIR: /is a folder/,
    EDQUOT: /quota/,
  };
  for (const [code, cause] of Object.entries(causes)) {
    const e = Object.assign(new Error(`${code}: raw`), { code, syscall: 'open', path: '/x/a.json' });
    const u = fsUserError(e, '--json', '/x/a.json');
    assert.ok(u instanceof UserError, code);
    assert.match(u.message, /^--json: \/x\/a\.json: /);
    assert.match(u.message, cause);
    assert.ok(!u.message.includes('\n'));
  }
  const other = fsUserError(Object.assign(new Error('x'), { code: 'ENOSPC', path: '/x/sub/file' }), '--out', '/x');
  assert.match((other as Error).message, /^--out: \/x: no space left on the device \(\/x\/sub\/file\)$/);
  const bug = new TypeError('bug');
  assert.equal(fsUserError(bug, '--json', 'a'), bug);
  const ue = new UserError('already one line');
  assert.equal(fsUserError(ue, '--json', 'a'), ue);
});

test('checkOutputFile / checkOutputFolder / writeOutput', () => {
  const d = tmp();
  assert.equal(checkOutputFile('-', '--json').kind, 'stdout');
  assert.equal(checkOutputFile('/dev/stdout', '--json').kind, 'stdout');
  assert.equal(checkOutputFile('/dev/null', '--json').kind, 'stream');
  assert.equal(checkOutputFile(path.join(d, 'new.json'), '--json').kind, 'file');
  assert.throws(() => checkOutputFile(d, '--json'), /--json: .* is a folder/);
  // A replaced file keeps its permissions.
  const f = path.join(d, 'a.json');
  fs.writeFileSync(f, 'old');
  fs.chmodSync(f, 0o640);
  writeOutput(f, 'new', '--json');
  assert.equal(fs.readFileSync(f, 'utf8'), 'new');
  assert.equal(fs.statSync(f).mode & 0o777, 0o640);
  // Folders: absent (with missing parents), empty, or marked; never a foreign one.
  const rule = { marker: 'run.json', what: 'a run', replace: true };
  assert.equal(checkOutputFolder(path.join(d, 'x', 'y'), '--out', rule), path.join(d, 'x', 'y'));
  assert.ok(!fs.existsSync(path.join(d, 'x')), 'the check creates nothing');
  assert.throws(() => checkOutputFolder(f, '--out', rule), /already exists and is not a folder/);
  fs.mkdirSync(path.join(d, 'foreign'));
  fs.writeFileSync(path.join(d, 'foreign', 'k'), '');
  assert.throws(() => checkOutputFolder(path.join(d, 'foreign'), '--out', rule), /not a run/);
  assertNoLeftovers(d);
});

// ---------------------------------------------------------------------------------------------------
// real environment failures: disk full, read-only file system, permission denied

/**
 * Run shell `setup`, then each CLI call, in a private mount namespace; each call's exit code and
 * output are saved in `dir`, and `snapshot` (a folder inside the mounts) is copied to dir/snapshot
 * before the namespace (and its mounts) goes away.
 */
function inNamespace(dir: string, setup: string, calls: string[][], snapshot: string): { results: CliResult[]; snap: string } {
  const snap = path.join(dir, 'snapshot');
  const lines = [
    'set -e',
    setup,
    'set +e',
    ...calls.map(
      (args, i) =>
        `${q(process.execPath)} ${q(CLI)} ${args.map(q).join(' ')} > ${q(path.join(dir, `${i}.out`))} 2> ${q(path.join(dir, `${i}.err`))}; echo $? > ${q(path.join(dir, `${i}.code`))}`,
    ),
    `rm -f ${q(path.join(snapshot, 'fill'))}`,
    `mkdir -p ${q(snap)} && cp -a ${q(snapshot)}/. ${q(snap)}/`,
  ];
  const r = spawnSync('unshare', [...UNSHARE, 'sh', '-c', lines.join('\n')], { encoding: 'utf8', timeout: 120000 });
  assert.equal(r.status, 0, r.stderr);
  const results = calls.map((_, i) => ({
    code: Number(fs.readFileSync(path.join(dir, `${i}.code`), 'utf8')),
    stdout: fs.readFileSync(path.join(dir, `${i}.out`), 'utf8'),
    stderr: fs.readFileSync(path.join(dir, `${i}.err`), 'utf8'),
  }));
  return { results, snap };
}

test('disk full (a small tmpfs, filled): train, report, measure --json, export --out are one line each; nothing old lost, nothing half-written', { skip: !CAN_MOUNT && 'no private mount namespace (unshare -m) here' }, () => {
  const d = tmp();
  const full = path.join(d, 'full');
  fs.mkdirSync(full);
  const setup = [
    `mount -t tmpfs -o size=512k none ${q(full)}`,
    `cp -a ${q(RUN)} ${q(path.join(full, 'run'))}`,
    `mkdir ${q(path.join(full, 'rep'))} && echo old report > ${q(path.join(full, 'rep', 'index.html'))}`,
    `echo old json > ${q(path.join(full, 'a.json'))}`,
    `dd if=/dev/zero of=${q(path.join(full, 'fill'))} bs=4k 2>/dev/null || true`,
  ].join('\n');
  const calls = [
    ['train', ...TRAIN, '--out', path.join(full, 'run'), '--force'],
    ['train', ...TRAIN, '--out', path.join(full, 'new-run')],
    ['report', '--db', DB, '--out', path.join(full, 'rep')],
    [...MEASURE, '--json', path.join(full, 'a.json')],
    ['export', '--db', DB, '--format', 'csv', '--out', path.join(full, 'runs.csv')],
  ];
  const { results, snap } = inNamespace(d, setup, calls, full);
  assertUserError(results[0], 'train: --out', path.join(full, 'run'), 'no space left');
  assertUserError(results[1], 'train: --out', 'new-run', 'no space left');
  assertUserError(results[2], 'report: --out', path.join(full, 'rep'), 'no space left');
  assertUserError(results[3], 'measure: --json', 'a.json', 'no space left');
  assertUserError(results[4], 'export: --out', 'runs.csv', 'no space left');
  // What was there is there, unchanged; nothing else.
  const before = listing(RUN).map((f) => `run/${f}`);
  assert.deepEqual(listing(snap), ['a.json', 'rep', 'rep/index.html', 'run', ...before].sort());
  for (const f of listing(RUN)) if (fs.statSync(path.join(RUN, f)).isFile()) assert.deepEqual(fs.readFileSync(path.join(snap, 'run', f)), fs.readFileSync(path.join(RUN, f)), f);
  assert.equal(fs.readFileSync(path.join(snap, 'rep', 'index.html'), 'utf8'), 'old report\n');
  assert.equal(fs.readFileSync(path.join(snap, 'a.json'), 'utf8'), 'old json\n');
});

test('read-only file system: outputs refused before any work, databases on it are one line', { skip: !CAN_MOUNT && 'no private mount namespace (unshare -m) here' }, () => {
  const d = tmp();
  const ro = path.join(d, 'ro');
  fs.mkdirSync(ro);
  fs.copyFileSync(DB, path.join(ro, 'g.db'));
  fs.writeFileSync(path.join(ro, 'a.json'), 'old');
  const setup = `mount --bind ${q(ro)} ${q(ro)} && mount -o remount,bind,ro ${q(ro)}`;
  const calls = [
    [...SLOW_MEASURE, '--json', path.join(ro, 'new.json')],
    [...SLOW_MEASURE, '--json', path.join(ro, 'a.json')],
    ['train', ...TRAIN, '--out', path.join(ro, 'run')],
    ['report', '--db', DB, '--out', path.join(ro, 'rep')],
    ['export', '--db', DB, '--format', 'csv', '--out', path.join(ro, 'x.csv')],
    ['export', '--db', path.join(ro, 'g.db'), '--format', 'csv'],
    ['report', '--db', path.join(ro, 'g.db'), '--out', path.join(d, 'rep')],
  ];
  const t0 = Date.now();
  const { results } = inNamespace(d, setup, calls, ro);
  assert.ok(Date.now() - t0 < 30000, 'the slow measures were refused before measuring');
  assertUserError(results[0], 'measure: --json', 'new.json', 'read-only file system');
  assertUserError(results[1], 'measure: --json', 'a.json', 'read-only file system');
  assertUserError(results[2], 'train: --out', 'read-only file system');
  assertUserError(results[3], 'report: --out', 'read-only file system');
  assertUserError(results[4], 'export: --out', 'read-only file system');
  assertUserError(results[5], 'export: --db', 'g.db', 'read-only file system');
  assertUserError(results[6], 'report: --db', 'g.db', 'read-only file system');
  assert.deepEqual(listing(ro), ['a.json', 'g.db']);
  assert.equal(fs.readFileSync(path.join(ro, 'a.json'), 'utf8'), 'old');
  assert.ok(!fs.existsSync(path.join(d, 'rep')));
});

const CAN_DROP = process.platform === 'linux' && process.getuid?.() === 0 && spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'true']).status === 0;

test('permission denied (an unprivileged user, a folder of root): one line, before any work', { skip: !CAN_DROP && 'not root, or no setpriv' }, () => {
  const d = tmp();
  fs.writeFileSync(path.join(d, 'mine.json'), 'old');
  fs.chmodSync(path.join(d, 'mine.json'), 0o644);
  const drop = (args: string[]) => {
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI, ...args], { encoding: 'utf8', timeout: 30000 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  assertUserError(drop([...SLOW_MEASURE, '--json', path.join(d, 'a.json')]), '--json', 'a.json', 'permission denied');
  assertUserError(drop([...SLOW_MEASURE, '--json', path.join(d, 'mine.json')]), '--json', 'mine.json', 'permission denied');
  assertUserError(drop(['train', ...TRAIN, '--out', path.join(d, 'run')]), '--out', 'permission denied');
  assertUserError(drop(['report', '--db', DB, '--out', path.join(d, 'rep')]), '--out', 'permission denied');
  assert.deepEqual(listing(d), ['mine.json']);
  assert.equal(fs.readFileSync(path.join(d, 'mine.json'), 'utf8'), 'old');
});

test('an environment error (EACCES, ENOSPC, …) that a command does not map itself is still one line, exit 2', () => {
  const d = tmp();
  const patch = path.join(d, 'patch.mjs');
  // Every file-system call on a path containing "forbidden-place" fails as if permission were denied.
  fs.writeFileSync(
    patch,
    [
      "import fs from 'node:fs';",
      "import { syncBuiltinESMExports } from 'node:module';",
      "for (const name of ['statSync', 'lstatSync', 'readdirSync', 'readFileSync', 'openSync', 'accessSync', 'realpathSync']) {",
      '  const orig = fs[name];',
      '  fs[name] = function (p, ...rest) {',
      "    if (String(p).includes('forbidden-place')) throw Object.assign(new Error(`EACCES: permission denied, ${name} '${p}'`), { code: 'EACCES', errno: -13, syscall: name, path: String(p) });",
      '    return orig.call(this, p, ...rest);',
      '  };',
      '}',
      'syncBuiltinESMExports();',
    ].join('\n'),
  );
  const place = path.join(d, 'forbidden-place');
  fs.mkdirSync(place);
  fs.writeFileSync(path.join(place, 'run.json'), '{}');
  const r = spawnSync(process.execPath, ['--import', pathToFileURL(patch).href, CLI, ...MEASURE.map((a) => (a === RUN ? place : a))], { encoding: 'utf8', timeout: 30000 });
  assertUserError({ code: r.status, stdout: r.stdout, stderr: r.stderr }, 'forbidden-place', 'permission denied');
});
