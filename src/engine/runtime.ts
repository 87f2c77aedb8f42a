/**
 * ONNX Runtime underneath everything numeric: the execution provider and thread count of this process,
 * sessions compiled from generated graphs (cached by a key that describes the graph, so a program is
 * built once per architecture), and typed runs.
 *
 *   configureEngine({ device: 'cpu', threads: 2 })   // once, before the first program (optional)
 *   const p = await program('forward:…', () => graph.toModel());
 *   const out = await p.run({ x: f32(x, [n, 784]), … });
 *
 * Devices: 'cpu' (default; bundled), 'webgpu' (bundled; needs a GPU adapter), 'cuda' (needs the CUDA
 * provider libraries, which `npm ci` does not download here: see the README). A device that cannot start
 * is a UserError, never a silent fall-back to the CPU.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import ort from 'onnxruntime-node';
import { UserError } from '../errors.js';
import { emitTag, setEmitOptions } from './layers.js';

export type Device = 'cpu' | 'webgpu' | 'cuda';
export const DEVICES: Device[] = ['cpu', 'webgpu', 'cuda'];

export interface EngineOptions {
  device: Device;
  /** Intra-op threads of every session of this process. */
  threads: number;
}

/** Cores of this machine (what `--threads` defaults to when one process runs). */
export function cores(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

// ONNX Runtime's own log goes to stderr; genmeasures reports errors itself (GENMEASURES_ORT_LOG=0…4 to see it)
const ORT_LOG = process.env.GENMEASURES_ORT_LOG ? Number(process.env.GENMEASURES_ORT_LOG) : 4;
ort.env.logLevel = (['verbose', 'info', 'warning', 'error', 'fatal'] as const)[Math.min(4, Math.max(0, ORT_LOG))] ?? 'fatal';

let options: EngineOptions = { device: 'cpu', threads: cores() };
let deviceChecked = false;
/** Bumped when the thread count changes: programs rebuild their session before their next run. */
let generation = 0;

export function parseDevice(value: string): Device {
  if ((DEVICES as string[]).includes(value)) return value as Device;
  throw new UserError(`--device: unknown device "${value}" (expected ${DEVICES.join(', ')})`);
}

export function parseThreads(value: string | number, option = '--threads'): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 1024) throw new UserError(`${option}: "${value}" is not a positive whole number of threads`);
  return n;
}

/**
 * Change the thread count of this process's programs, also of those in use: each rebuilds its session
 * before its next run (results do not depend on the thread count; see the determinism tests). Used by a
 * sweep's worker when other workers' cores become free.
 */
export function setEngineThreads(threads: number): void {
  if (threads === options.threads) return;
  options = { ...options, threads };
  generation++;
}

/** Set the device and thread count for programs built from now on (cached programs are released). */
export function configureEngine(opts: Partial<EngineOptions>): EngineOptions {
  const next = { ...options, ...opts };
  // WebGPU's MaxPool has no indices output: max-pool gradients from window masks there
  setEmitOptions({ maxPoolIndices: next.device !== 'webgpu' });
  if (next.device !== options.device) emitReady = null;
  if (next.device !== options.device || next.threads !== options.threads) {
    releasePrograms();
    deviceChecked = false;
  }
  options = next;
  return { ...options };
}

export function engineOptions(): EngineOptions {
  return { ...options };
}

/** A one-line description, e.g. "onnxruntime 1.30.0, cpu, 2 threads". */
export function engineDescription(): string {
  return `onnxruntime ${ort.env.versions.node ?? ort.env.versions.common}, ${options.device}, ${options.threads} thread${options.threads === 1 ? '' : 's'}`;
}

function sessionOptions(): ort.InferenceSession.SessionOptions {
  const providers: ort.InferenceSession.ExecutionProviderConfig[] = options.device === 'cpu' ? ['cpu'] : [options.device];
  return {
    executionProviders: providers,
    intraOpNumThreads: options.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    // idle threads sleep instead of spinning: on a machine whose cores are shared (other processes, a
    // sweep's other workers) spinning threads more than halve the speed (GENMEASURES_ORT_SPIN=1 to spin)
    extra: { session: { intra_op: { allow_spinning: process.env.GENMEASURES_ORT_SPIN === '1' ? '1' : '0' } } },
    // GENMEASURES_ORT_LOG=0…4 shows ONNX Runtime's own log (e.g. which nodes a GPU provider left to the CPU)
    logSeverityLevel: Math.min(4, Math.max(0, ORT_LOG)) as 0 | 1 | 2 | 3 | 4,
    // for developers: GENMEASURES_ORT_PROFILE=PREFIX writes ONNX Runtime's per-node profile as PREFIX_<date>.json
    ...(process.env.GENMEASURES_ORT_PROFILE ? { enableProfiling: true, profileFilePrefix: process.env.GENMEASURES_ORT_PROFILE } : {}),
  };
}

/** ONNX Runtime's message without its source locations and status prefixes. */
function cleanMessage(e: unknown): string {
  let msg = (e instanceof Error ? e.message : String(e)).split('\n')[0];
  msg = msg.replace(/\S+\.(cc|cpp|h):\d+ [^ ]*(\([^)]*\))?[^ ]* /g, '');
  msg = msg.replace(/^.* was false\. /, '').replace(/\[ONNXRuntimeError\] : \d+ : \w+ : /g, '');
  return msg.trim();
}

const CUDA_HINT =
  'the CUDA provider\'s libraries are not installed (npm ci skips their download); on a machine with CUDA 12, cuDNN 9 and internet run `ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js`, or use --device cpu';

function deviceError(e: unknown): UserError {
  const msg = cleanMessage(e);
  if (options.device === 'cuda') return new UserError(`--device cuda: the CUDA execution provider could not start (${msg}); ${CUDA_HINT}`);
  return new UserError(`--device ${options.device}: the ${options.device} execution provider could not start (${msg}); use --device cpu`);
}

/** The folder of onnxruntime-node's native binaries for this platform. */
function binaryFolder(): string | null {
  try {
    const require = createRequire(import.meta.url);
    const pkg = path.dirname(require.resolve('onnxruntime-node/package.json'));
    return path.join(pkg, 'bin', 'napi-v6', process.platform, process.arch);
  } catch {
    return null;
  }
}

/** Whether a shared library can be found by the dynamic loader's usual places (Linux). */
function hasSharedLibrary(name: string): boolean {
  const dirs = [
    ...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean),
    '/lib', '/usr/lib', '/lib64', '/usr/lib64', '/usr/local/lib',
    '/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu', '/lib/aarch64-linux-gnu', '/usr/lib/aarch64-linux-gnu',
  ];
  return dirs.some((d) => fs.existsSync(path.join(d, name)));
}

/** Problems that can be seen before asking the runtime (it would print its own errors first). */
function precheck(device: Device): string | null {
  if (device === 'cuda') {
    const bin = binaryFolder();
    const lib = process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';
    if (bin && !fs.existsSync(path.join(bin, lib))) return `--device cuda: ${CUDA_HINT}`;
  }
  if (device === 'webgpu' && process.platform === 'linux' && !hasSharedLibrary('libvulkan.so.1')) {
    return '--device webgpu: no Vulkan loader (libvulkan.so.1) was found, which WebGPU needs on Linux with a GPU and its driver; install it (Debian/Ubuntu: apt-get install libvulkan1) or use --device cpu';
  }
  return null;
}

/** Check that the configured device can run a program (a no-op for the CPU). Throws a UserError if not. */
export async function checkDevice(): Promise<void> {
  if (deviceChecked || options.device === 'cpu') return;
  const backends = ort.listSupportedBackends?.() ?? [];
  const entry = backends.find((b) => b.name === options.device);
  if (!entry) throw new UserError(`--device ${options.device}: this build of onnxruntime-node has no ${options.device} execution provider; use --device cpu`);
  const problem = precheck(options.device);
  if (problem) throw new UserError(problem);
  // a minimal model (y = x + x) run in a child process: a provider that cannot start makes its native
  // libraries print warnings to stderr, which stay in the child; the user gets one line
  const { Graph } = await import('./onnx/graph.js');
  const g = new Graph('probe');
  const x = g.input('x', 'float', [1]);
  g.output(g.op('Add', [x, x]), 'float', [1], 'y');
  const probe = [
    'const ort = require(process.argv[3]);',
    "const [model, provider] = [Buffer.from(process.argv[1], 'base64'), process.argv[2]];",
    "ort.env.logLevel = 'fatal';",
    "ort.InferenceSession.create(model, { executionProviders: [provider], logSeverityLevel: 4 })",
    "  .then((s) => s.run({ x: new ort.Tensor('float32', Float32Array.of(1), [1]) }))",
    "  .then((r) => { process.stdout.write(JSON.stringify({ ok: r.y.data[0] === 2 })); })",
    "  .catch((e) => { process.stdout.write(JSON.stringify({ ok: false, message: String(e && e.message || e) })); });",
  ].join('\n');
  const { spawnSync } = await import('node:child_process');
  const ortPath = createRequire(import.meta.url).resolve('onnxruntime-node');
  const r = spawnSync(process.execPath, ['-e', probe, Buffer.from(g.toModel()).toString('base64'), options.device, ortPath], { encoding: 'utf8', timeout: 120000 });
  let answer: { ok: boolean; message?: string } = { ok: false, message: `the probe process ended with ${r.signal ?? `exit code ${r.status}`}` };
  try {
    answer = JSON.parse(r.stdout);
  } catch {
    /* keep the default */
  }
  if (!answer.ok) throw deviceError(new Error(answer.message ?? 'it computed a wrong value'));
  deviceChecked = true;
}

export type Feed = ort.Tensor;

/** A float32 tensor over a JS buffer (no copy). */
export function f32(data: Float32Array, dims: number[]): Feed {
  return new ort.Tensor('float32', data, dims);
}

/** An int64 tensor from integers. */
export function i64(data: ArrayLike<number>, dims?: number[]): Feed {
  const a = new BigInt64Array(data.length);
  for (let i = 0; i < data.length; i++) a[i] = BigInt(data[i]);
  return new ort.Tensor('int64', a, dims ?? [data.length]);
}

/** An int64 tensor over a BigInt64Array (no copy). */
export function i64Array(data: BigInt64Array, dims: number[]): Feed {
  return new ort.Tensor('int64', data, dims);
}

/** An int64 scalar. */
export function i64Scalar(v: number): Feed {
  return new ort.Tensor('int64', BigInt64Array.of(BigInt(v)), []);
}

/** A float32 scalar. */
export function f32Scalar(v: number): Feed {
  return new ort.Tensor('float32', Float32Array.of(v), []);
}

/** A compiled graph. */
export class Program {
  private generation = generation;

  constructor(
    readonly key: string,
    private session: ort.InferenceSession,
    private readonly bytes: Uint8Array,
  ) {}

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  /** Run with the given inputs; returns every output as a Float32Array (or numbers for scalars). */
  async run(feeds: Record<string, Feed>, outputs?: string[]): Promise<Record<string, Float32Array>> {
    if (this.generation !== generation) {
      const old = this.session;
      this.generation = generation;
      this.session = await ort.InferenceSession.create(this.bytes, sessionOptions());
      await old.release();
    }
    const r = outputs ? await this.session.run(feeds, outputs) : await this.session.run(feeds);
    const out: Record<string, Float32Array> = {};
    for (const [k, t] of Object.entries(r)) {
      out[k] = t.data as Float32Array;
      t.dispose?.();
    }
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/**
 * The channel block of ONNX Runtime's NCHWc kernels on this CPU (16 with AVX-512, 8 with AVX2), read off
 * the shape ReorderInput gives 4 channels; 0 where this build or CPU has no such kernels (their schema is
 * registered only where MLAS blocks channels), or when GENMEASURES_NCHWC=0 (for developers: compare with
 * ONNX's own Conv).
 */
async function probeNchwcBlock(): Promise<number> {
  if (process.env.GENMEASURES_NCHWC === '0') return 0;
  const { Graph } = await import('./onnx/graph.js');
  const g = new Graph('nchwc-probe');
  const x = g.input('x', 'float', [1, 4, 1, 1]);
  g.output(g.domainOp('com.microsoft.nchwc', 'ReorderInput', [x]), 'float', undefined, 'y');
  try {
    const s = await ort.InferenceSession.create(g.toModel(), { executionProviders: ['cpu'], logSeverityLevel: 4 });
    const r = await s.run({ x: new ort.Tensor('float32', new Float32Array(4), [1, 4, 1, 1]) });
    await s.release();
    const block = r.y.dims[1];
    return Number.isInteger(block) && block >= 4 && block % 4 === 0 ? block : 0;
  } catch {
    return 0;
  }
}

let nchwcBlock: Promise<number> | null = null;
/** Set once per device before the first program is keyed: how graphs are written there. */
let emitReady: Promise<void> | null = null;

async function readyEmitOptions(): Promise<void> {
  if (options.device !== 'cpu') return setEmitOptions({ nchwcBlock: 0 });
  setEmitOptions({ nchwcBlock: await (nchwcBlock ??= probeNchwcBlock()) });
}

const MAX_PROGRAMS = 24;
const programs = new Map<string, Promise<Program>>();

/** The program for `key`, built by `build` the first time (and cached; least recently used released). */
export async function program(graphKey: string, build: () => Uint8Array): Promise<Program> {
  await (emitReady ??= readyEmitOptions());
  const key = `${emitTag()}|${graphKey}`;
  let p = programs.get(key);
  if (p) {
    programs.delete(key); // move to the end (most recently used)
    programs.set(key, p);
    return p;
  }
  await checkDevice();
  p = (async () => {
    const bytes = build();
    try {
      return new Program(key, await ort.InferenceSession.create(bytes, sessionOptions()), bytes);
    } catch (e) {
      if (options.device !== 'cpu') throw deviceError(e);
      throw new Error(`onnxruntime could not load the generated graph ${key.slice(0, 80)}: ${e instanceof Error ? e.message : String(e)}`);
    }
  })();
  programs.set(key, p);
  p.catch(() => programs.delete(key));
  while (programs.size > MAX_PROGRAMS) {
    const [oldKey, old] = programs.entries().next().value as [string, Promise<Program>];
    programs.delete(oldKey);
    old.then((q) => q.release(), () => undefined);
  }
  return p;
}

/** Release every cached program (sessions are native resources). */
export function releasePrograms(): Promise<void> {
  const all = [...programs.values()];
  programs.clear();
  return Promise.all(all.map((p) => p.then((q) => q.release(), () => undefined))).then(() => undefined);
}
