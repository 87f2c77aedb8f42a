import test from 'node:test';
import assert from 'node:assert/strict';
import { createProgress, formatDuration } from '../../src/util/progress.js';

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
