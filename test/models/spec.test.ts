import test from 'node:test';
import assert from 'node:assert/strict';
import { buildNetwork, parseModelSpec } from '../../src/models/spec.js';
import { countParams, weightLayers, type Network, type Shape3 } from '../../src/models/network.js';
import { Rng, deriveSeed } from '../../src/util/random.js';
import { UserError } from '../../src/errors.js';

const PAPER_VGG = 'vgg:64,64,M,128,128,M,256,256,M,512,512,A4,D512';
const CIFAR: Shape3 = [32, 32, 3];

/** Asserts fn throws a one-line UserError that names --model, the token and matches `extra`. */
function assertSpecError(fn: () => unknown, token: string, extra?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof UserError, `expected a UserError, got ${e}`);
    const msg = (e as Error).message;
    assert.match(msg, /--model/);
    assert.ok(msg.includes(`"${token}"`), `message should name "${token}": ${msg}`);
    assert.ok(!msg.includes('\n'), `message should be one line: ${msg}`);
    if (extra) assert.match(msg, extra);
    return true;
  });
}

/** Per weight layer: kind, size, sum of kernel[0..9], sum of the kernel and of the bias (float64 sums). */
function checksum(net: Network) {
  return weightLayers(net).map((l) => {
    let head = 0;
    for (let i = 0; i < 10; i++) head += l.kernel[i];
    let all = 0;
    for (const v of l.kernel) all += v;
    let bias: number | null = null;
    if (l.bias) {
      bias = 0;
      for (const v of l.bias) bias += v;
    }
    return { kind: l.kind, n: l.kernel.length, head, all, bias };
  });
}

test('vgg tokens parse: C, M (= M2), Mk, Ak, Dn, in any letter case', () => {
  assert.deepEqual(parseModelSpec('vgg:16,M,32,m'), { family: 'vgg', blocks: [16, 'M', 32, 'M'] });
  assert.deepEqual(parseModelSpec('vgg:16,M2,m2'), { family: 'vgg', blocks: [16, 'M', 'M'] });
  assert.deepEqual(parseModelSpec('vgg:16,M4,m3'), { family: 'vgg', blocks: [16, { pool: 'max', size: 4 }, { pool: 'max', size: 3 }] });
  assert.deepEqual(parseModelSpec('vgg:16,A4,a2,A1'), {
    family: 'vgg',
    blocks: [16, { pool: 'avg', size: 4 }, { pool: 'avg', size: 2 }, { pool: 'avg', size: 1 }],
  });
  assert.deepEqual(parseModelSpec('vgg:16,D512'), { family: 'vgg', blocks: [16], dense: [512] });
  assert.deepEqual(parseModelSpec('vgg: 16 , M , D512 , d256 '), { family: 'vgg', blocks: [16, 'M'], dense: [512, 256] });
  assert.deepEqual(parseModelSpec(PAPER_VGG), {
    family: 'vgg',
    blocks: [64, 64, 'M', 128, 128, 'M', 256, 256, 'M', 512, 512, { pool: 'avg', size: 4 }],
    dense: [512],
  });
});

test('bad vgg tokens are one-line UserErrors naming --model and the token', () => {
  for (const [spec, token] of [
    ['vgg:16,A0', 'A0'],
    ['vgg:16,M0', 'M0'],
    ['vgg:16,M1x', 'M1x'],
    ['vgg:16,A', 'A'],
    ['vgg:16,A-2', 'A-2'],
    ['vgg:16,D', 'D'],
    ['vgg:16,D0', 'D0'],
    ['vgg:16,Dx', 'Dx'],
    ['vgg:16,X3', 'X3'],
    ['vgg:16,,M', ''],
    ['vgg:16,3.5', '3.5'],
  ]) {
    assertSpecError(() => parseModelSpec(spec), token);
  }
});

test('D must come after every conv and pool token; a vgg still needs a conv', () => {
  assertSpecError(() => parseModelSpec('vgg:D512,16'), 'D512', /after every conv and pool/);
  assertSpecError(() => parseModelSpec('vgg:D512,16'), '16');
  assertSpecError(() => parseModelSpec('vgg:16,D512,M'), 'M', /after every conv and pool/);
  assertSpecError(() => parseModelSpec('vgg:16,D512,D256,A2'), 'A2');
  for (const bad of ['vgg:D512', 'vgg:M4,A2', 'vgg:A2,D8']) {
    assert.throws(() => parseModelSpec(bad), (e: unknown) => e instanceof UserError && /--model/.test((e as Error).message) && /at least one conv/.test((e as Error).message));
  }
});

test('a pool larger than the map is a UserError: too many ... for 32x32x3 inputs', () => {
  const opts = { inputShape: CIFAR, numClasses: 10 };
  assertSpecError(() => buildNetwork('vgg:4,M,A32', opts), 'A32', /too many A \(average-pool\) layers for 32x32x3 inputs/);
  assertSpecError(() => buildNetwork('vgg:4,M8,M8', opts), 'M8', /too many M \(max-pool\) layers for 32x32x3 inputs.*4x4/);
  assertSpecError(() => buildNetwork('vgg:4,M,M,M,M,M,M', opts), 'M', /too many M/);
  assertSpecError(() => buildNetwork('vgg:4,M,M,M,M,M,M,D8', opts), 'M', /too many M/);
  // the same pools fit exactly
  assert.doesNotThrow(() => buildNetwork('vgg:4,A32', opts));
  assert.doesNotThrow(() => buildNetwork('vgg:4,M,M,M,M,M', opts));
});

test('Mk and Ak are kxk pools with stride k and valid padding', () => {
  const net = buildNetwork('vgg:4,M3,3,A2', { inputShape: [8, 7, 1], numClasses: 5 });
  assert.deepEqual(
    net.layers.map((l) => l.kind),
    ['conv2d', 'relu', 'maxpool', 'conv2d', 'relu', 'avgpool', 'flatten', 'dense'],
  );
  assert.deepEqual(net.layers[2], { kind: 'maxpool', inShape: [8, 7, 4], outShape: [2, 2, 4], poolSize: [3, 3], strides: [3, 3], padding: 'valid' });
  assert.deepEqual(net.layers[5], { kind: 'avgpool', inShape: [2, 2, 3], outShape: [1, 1, 3], poolSize: [2, 2], strides: [2, 2], padding: 'valid' });
  assert.deepEqual(net.layers[6], { kind: 'flatten', inShape: [1, 1, 3] });
  const out = net.layers[7];
  assert.ok(out.kind === 'dense' && out.inSize === 3 && out.outSize === 5);
  // M and M2 build the same network
  const a = buildNetwork('vgg:4,M,8', { inputShape: [6, 6, 2], numClasses: 3, seed: 5 });
  const b = buildNetwork('vgg:4,M2,8', { inputShape: [6, 6, 2], numClasses: 3, seed: 5 });
  assert.deepEqual(a, b);
});

test("the paper's VGG: layers, shapes and parameter count on 32x32x3", () => {
  const net = buildNetwork(PAPER_VGG, { inputShape: CIFAR, numClasses: 10, seed: 1 });
  const conv = ['conv2d', 'relu'];
  assert.deepEqual(net.layers.map((l) => l.kind), [
    ...conv, ...conv, 'maxpool',
    ...conv, ...conv, 'maxpool',
    ...conv, ...conv, 'maxpool',
    ...conv, ...conv, 'avgpool',
    'flatten', 'dense', 'relu', 'dense',
  ]);
  const shapes = net.layers.map((l) => (l.kind === 'conv2d' || l.kind === 'maxpool' || l.kind === 'avgpool' ? [l.inShape, l.outShape] : l.kind === 'flatten' ? [l.inShape] : l.kind === 'dense' ? [l.inSize, l.outSize] : null)).filter((s) => s !== null);
  assert.deepEqual(shapes, [
    [[32, 32, 3], [32, 32, 64]],
    [[32, 32, 64], [32, 32, 64]],
    [[32, 32, 64], [16, 16, 64]],
    [[16, 16, 64], [16, 16, 128]],
    [[16, 16, 128], [16, 16, 128]],
    [[16, 16, 128], [8, 8, 128]],
    [[8, 8, 128], [8, 8, 256]],
    [[8, 8, 256], [8, 8, 256]],
    [[8, 8, 256], [4, 4, 256]],
    [[4, 4, 256], [4, 4, 512]],
    [[4, 4, 512], [4, 4, 512]],
    [[4, 4, 512], [1, 1, 512]],
    [[1, 1, 512]],
    [512, 512],
    [512, 10],
  ]);
  const avg = net.layers.find((l) => l.kind === 'avgpool');
  assert.ok(avg && avg.kind === 'avgpool');
  assert.deepEqual([avg.poolSize, avg.strides, avg.padding], [[4, 4], [4, 4], 'valid']);
  const expected =
    64 * 3 * 9 + 64 * 64 * 9 + 128 * 64 * 9 + 128 * 128 * 9 + 256 * 128 * 9 + 256 * 256 * 9 + 512 * 256 * 9 + 512 * 512 * 9 + 512 * 512 + 512 * 10;
  assert.equal(countParams(net), expected);
  assert.ok(weightLayers(net).every((l) => l.bias === null));
  const withBias = buildNetwork(PAPER_VGG, { inputShape: CIFAR, numClasses: 10, seed: 1, bias: true });
  assert.equal(countParams(withBias), expected + 2 * 64 + 2 * 128 + 2 * 256 + 2 * 512 + 512 + 10);
  // dense weights within U(-1/sqrt(512), 1/sqrt(512))
  const hidden = weightLayers(net)[8];
  assert.ok(hidden.kind === 'dense');
  const bound = 1 / Math.sqrt(512);
  assert.ok(hidden.kernel.every((v) => Math.abs(v) <= bound));
  assert.ok(Math.max(...hidden.kernel.slice(0, 4096).map(Math.abs)) > 0.9 * bound);
});

test('a D layer is initialised like every dense layer: its own seeded stream init:<index>, bias after kernel', () => {
  const seed = 11;
  const net = buildNetwork('vgg:4,M,D8,D6', { inputShape: [4, 4, 2], numClasses: 3, seed, bias: true });
  const ws = weightLayers(net);
  assert.deepEqual(ws.map((l) => (l.kind === 'dense' ? [l.inSize, l.outSize] : l.kind)), ['conv2d', [16, 8], [8, 6], [6, 3]]);
  assert.deepEqual(net.layers.slice(3).map((l) => l.kind), ['flatten', 'dense', 'relu', 'dense', 'relu', 'dense']);
  for (let wi = 1; wi < ws.length; wi++) {
    const l = ws[wi];
    assert.ok(l.kind === 'dense' && l.bias);
    const rng = new Rng(deriveSeed(seed, `init:${wi}`));
    const bound = 1 / Math.sqrt(l.inSize);
    const draw = (n: number) => Float32Array.from({ length: n }, () => (2 * rng.uniform() - 1) * bound);
    assert.deepEqual(l.kernel, draw(l.inSize * l.outSize), `kernel of weight layer ${wi}`);
    assert.deepEqual(l.bias, draw(l.outSize), `bias of weight layer ${wi}`);
  }
  // adding D layers leaves the conv weights as they were
  const plain = buildNetwork('vgg:4,M', { inputShape: [4, 4, 2], numClasses: 3, seed, bias: true });
  assert.deepEqual(weightLayers(plain)[0], ws[0]);
});

test('existing specs build bit-identical networks (checksums computed before Mk/Ak/Dn were added)', () => {
  const a = buildNetwork('vgg:16,M,32,M', { inputShape: CIFAR, numClasses: 10 });
  assert.deepEqual(a.layers.map((l) => l.kind), ['conv2d', 'relu', 'maxpool', 'conv2d', 'relu', 'maxpool', 'flatten', 'dense']);
  assert.deepEqual(checksum(a), [
    { kind: 'conv2d', n: 432, head: 0.09495874494314194, all: -2.789152245124569, bias: null },
    { kind: 'conv2d', n: 4608, head: -0.0935223326086998, all: -0.36985958102013683, bias: null },
    { kind: 'dense', n: 20480, head: 0.01084772264584899, all: -1.9185314243811042, bias: null },
  ]);
  const b = buildNetwork('vgg:16,M,32,M', { inputShape: CIFAR, numClasses: 10, bias: true, seed: 7 });
  assert.deepEqual(checksum(b), [
    { kind: 'conv2d', n: 432, head: -0.200923889875412, all: 2.143368671531789, bias: -0.07090706494636834 },
    { kind: 'conv2d', n: 4608, head: -0.15820022439584136, all: 5.530730052012586, bias: 0.1324121714969806 },
    { kind: 'dense', n: 20480, head: -0.08507869543973356, all: -2.298860176938618, bias: 0.0221975643071346 },
  ]);
  const c = buildNetwork('mlp:64,32', { inputShape: [28, 28, 1], numClasses: 10, bias: true, seed: 3 });
  assert.deepEqual(c.layers.map((l) => l.kind), ['flatten', 'dense', 'relu', 'dense', 'relu', 'dense']);
  assert.deepEqual(checksum(c), [
    { kind: 'dense', n: 50176, head: -0.06946801673620939, all: -0.09524224624414046, bias: -0.06527388966060244 },
    { kind: 'dense', n: 2048, head: -0.09523728722706437, all: 3.114580621186178, bias: 0.10545653419103473 },
    { kind: 'dense', n: 320, head: -0.21529656741768122, all: -0.37067917959757324, bias: -0.5218751430511475 },
  ]);
});
