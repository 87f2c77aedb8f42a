import test from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/util/random.js';

test('fillNormal gives exactly the values of successive normal() calls, and leaves the same state', () => {
  for (const lengths of [[7], [8, 3], [1, 1, 5], [0, 4], [1000, 1]]) {
    const a = new Rng(42);
    const b = new Rng(42);
    for (const n of lengths) {
      const bulk = a.fillNormal(new Float32Array(n));
      const one = Float32Array.from({ length: n }, () => b.normal());
      assert.deepEqual(bulk, one, `lengths ${lengths}`);
    }
    assert.equal(a.normal(), b.normal(), 'state after');
    assert.equal(a.nextUint32(), b.nextUint32(), 'generator state after');
  }
});
