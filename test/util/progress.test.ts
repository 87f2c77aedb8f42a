import test from 'node:test';
import assert from 'node:assert/strict';
import { createProgress, createTrainProgress, formatDuration, lossProgress } from '../../src/util/progress.js';

function fakeStream(tty: boolean) {
  const out: string[] = [];
  return { out, stream: { isTTY: tty, columns: 200, write: (s: string) => (out.push(s), true) } as unknown as NodeJS.WriteStream };
}

test('progress: plain lines when not a terminal, a redrawn bar on a terminal, nothing when quiet', () => {
  const plain = fakeStream(false);
  const p = createProgress({ total: 10, label: 'epoch', stream: plain.stream, plainIntervalMs: 0, etaLabel: 'ETA ≤' });
  p.update(5, 'loss 0.1');
  p.done();
  assert.equal(plain.out.length, 2);
  assert.match(plain.out[0], /^epoch 5\/10 loss 0\.1 \(elapsed \d+s, ETA ≤ .+\)\n$/);
  assert.ok(!plain.out.join('').includes('\r'));

  const tty = fakeStream(true);
  const q = createProgress({ total: 4, label: 'runs', stream: tty.stream });
  q.update(2, 'x');
  q.log('a finished run');
  q.done();
  const all = tty.out.join('');
  assert.ok(all.includes('\r\x1b[2K'), 'redraws in place');
  assert.ok(all.includes('a finished run\n'));
  assert.match(all, /runs █+░+ 2\/4 x ETA/);

  const quiet = fakeStream(true);
  const r = createProgress({ total: 4, label: 'q', stream: quiet.stream, quiet: true });
  r.update(1);
  r.log('x');
  r.done();
  assert.deepEqual(quiet.out, []);
});

test('durations read as a person would', () => {
  assert.equal(formatDuration(4200), '4s');
  assert.equal(formatDuration(125000), '2m05s');
  assert.equal(formatDuration(3 * 3600e3 + 60e3), '3h01m');
  assert.equal(formatDuration(NaN), '?');
});

test('train progress: the bar shows the loss toward the target on a log scale, with the epoch count, not the epoch cap', () => {
  assert.equal(lossProgress(2.3, 2.3, 0.01), 0);
  assert.ok(Math.abs(lossProgress(1, 0.1, 0.01) - 0.5) < 1e-12, 'half way in log(loss) is half the bar');
  assert.equal(lossProgress(1, 0.005, 0.01), 1);
  assert.equal(lossProgress(1, 3, 0.01), 0, 'a loss above the first one is no progress');
  assert.equal(lossProgress(0.005, 0.004, 0.01), 1);

  const tty = fakeStream(true);
  const p = createTrainProgress({ targetLoss: 0.01, maxEpochs: 1000, stream: tty.stream });
  p.update(1, 1, 'train error 40.00%');
  p.update(2, 0.1, 'train error 5.00%');
  const line = tty.out.at(-1)!;
  // 2 epochs of 1000 would be an empty bar; the loss went half way (in log scale) from 1 to 0.01
  assert.match(line, /^\r\x1b\[2Kepoch 2 \(cap 1000\) █{10}░{10} loss 0\.100 → < 0\.01 · ETA (~\d+s|\?) · train error 5\.00%$/);
  p.update(3, 0.009, 'train error 0.00%');
  assert.match(tty.out.at(-1)!, /epoch 3 \(cap 1000\) █{20} loss 0\.00900 → < 0\.01 · ETA 0s · train error 0\.00%$/);
  p.done();
  assert.equal(tty.out.at(-1), '\n');

  const plain = fakeStream(false);
  const q = createTrainProgress({ targetLoss: 0.01, maxEpochs: 10, stream: plain.stream });
  q.update(1, 1);
  q.done();
  assert.deepEqual(plain.out, [], 'no bar when stderr is not a terminal (train prints epoch lines itself)');
});
