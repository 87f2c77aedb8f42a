/**
 * Choosing and initialising the TensorFlow.js backend.
 *
 * - `wasm`: @tensorflow/tfjs-backend-wasm (a dependency; single-threaded in Node, SIMD).
 * - `cpu`: the pure-JavaScript backend (slow, but the reference for gradient tests).
 * - `tensorflow`: @tensorflow/tfjs-node, only when the user has installed it themselves
 *   (it is never a dependency of genmeasures: its install script downloads a binary).
 * - `auto`: tensorflow when present, else wasm.
 *
 * A backend must be chosen (and `tf.ready()` awaited) before any tensor is created.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { UserError } from '../errors.js';

export type BackendChoice = 'auto' | 'wasm' | 'cpu' | 'tensorflow';
export const BACKEND_CHOICES: BackendChoice[] = ['auto', 'wasm', 'cpu', 'tensorflow'];

let tfjsNodeTried = false;
let tfjsNodeAvailable = false;

async function tryLoadTfjsNode(): Promise<boolean> {
  if (tfjsNodeTried) return tfjsNodeAvailable;
  tfjsNodeTried = true;
  try {
    // A variable module name keeps TypeScript from requiring the (optional) package's types.
    const name = '@tensorflow/tfjs-node';
    await import(name);
    tfjsNodeAvailable = tf.findBackend('tensorflow') !== null || tf.engine().registryFactory['tensorflow'] !== undefined;
  } catch {
    tfjsNodeAvailable = false;
  }
  return tfjsNodeAvailable;
}

export function parseBackend(value: string): BackendChoice {
  if ((BACKEND_CHOICES as string[]).includes(value)) return value as BackendChoice;
  throw new UserError(`--backend: unknown backend "${value}" (expected ${BACKEND_CHOICES.join(', ')})`);
}

/** Initialise the requested backend and return the name of the backend in use. */
export async function initBackend(choice: BackendChoice = 'auto'): Promise<string> {
  let name: string;
  if (choice === 'tensorflow') {
    if (!(await tryLoadTfjsNode())) {
      throw new UserError(
        '--backend tensorflow: @tensorflow/tfjs-node is not installed (install it yourself with `npm install @tensorflow/tfjs-node@4.22.0`, or use --backend wasm)',
      );
    }
    name = 'tensorflow';
  } else if (choice === 'auto') {
    name = (await tryLoadTfjsNode()) ? 'tensorflow' : 'wasm';
  } else {
    name = choice;
  }
  if (tf.engine().backendName !== name) {
    const ok = await tf.setBackend(name);
    if (!ok) throw new UserError(`--backend: the ${name} backend could not be initialised`);
  }
  await tf.ready();
  if (name === 'cpu') {
    // the cpu backend greets its first use in Node with a banner recommending tfjs-node; the user chose cpu
    const b = tf.backend() as unknown as { firstUse?: boolean };
    if (b && 'firstUse' in b) b.firstUse = false;
  }
  return tf.getBackend();
}

export { tf };
