/** Shared test helpers. */
import assert from 'node:assert/strict';

export function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'length mismatch');
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / Math.max(den, 1e-30);
}

export function assertClose(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what = 'values'): void {
  const e = maxRelErr(a, b);
  assert.ok(e <= tol, `${what}: max relative error ${e.toExponential(3)} > ${tol}`);
}

export function randomArray(n: number, seed: number, scale = 1): Float32Array {
  // tiny LCG: tests do not depend on src/util/random
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s / 4294967296) * 2 - 1) * scale;
  }
  return out;
}
