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
import os from 'node:os';
import ort from 'onnxruntime-node';
import { UserError } from '../errors.js';

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
    logSeverityLevel: 3,
    // for developers: GENMEASURES_ORT_PROFILE=PREFIX writes ONNX Runtime's per-node profile as PREFIX_<date>.json
    ...(process.env.GENMEASURES_ORT_PROFILE ? { enableProfiling: true, profileFilePrefix: process.env.GENMEASURES_ORT_PROFILE } : {}),
  };
}

function deviceError(e: unknown): UserError {
  const msg = (e instanceof Error ? e.message : String(e)).split('\n')[0];
  if (options.device === 'cuda') {
    return new UserError(
      `--device cuda: the CUDA execution provider could not start (${msg}); install its libraries with \`npm rebuild onnxruntime-node --onnxruntime-node-install=cuda12\` on a machine with CUDA 12 and internet, or use --device cpu`,
    );
  }
  return new UserError(`--device ${options.device}: the ${options.device} execution provider could not start (${msg}); use --device cpu`);
}

/** Check that the configured device can run a program (a no-op for the CPU). Throws a UserError if not. */
export async function checkDevice(): Promise<void> {
  if (deviceChecked || options.device === 'cpu') return;
  const backends = ort.listSupportedBackends?.() ?? [];
  const entry = backends.find((b) => b.name === options.device);
  if (!entry) throw new UserError(`--device ${options.device}: this build of onnxruntime-node has no ${options.device} execution provider; use --device cpu`);
  // a minimal model: y = x + x
  const { Graph } = await import('./onnx/graph.js');
  const g = new Graph('probe');
  const x = g.input('x', 'float', [1]);
  g.output(g.op('Add', [x, x]), 'float', [1], 'y');
  try {
    const s = await ort.InferenceSession.create(g.toModel(), sessionOptions());
    await s.run({ x: new ort.Tensor('float32', new Float32Array([1]), [1]) });
    await s.release();
  } catch (e) {
    throw deviceError(e);
  }
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

const MAX_PROGRAMS = 24;
const programs = new Map<string, Promise<Program>>();

/** The program for `key`, built by `build` the first time (and cached; least recently used released). */
export async function program(key: string, build: () => Uint8Array): Promise<Program> {
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
