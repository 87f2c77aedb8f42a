/**
 * Cores shared by the queue workers of one machine: once no run is left to start, the cores of idle
 * workers go to the busy ones (as the local runner does for its worker processes). Each worker keeps a
 * small file in a folder of the machine's temporary directory (one folder per database) saying whether it
 * is busy; a busy worker looks every few seconds and sets its ONNX Runtime thread count to
 * ⌊cores / busy workers⌋ — at most `cores`, at least the count it started with. Results do not depend on
 * the thread count (the engine's products are bit-identical at any count), only speed does.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setEngineThreads } from '../engine/index.js';
import { pidAlive } from '../util/process.js';

export class CoreShare {
  private readonly dir: string;
  private readonly file: string;
  private timer: NodeJS.Timeout | null = null;
  private threads: number;

  constructor(
    db: string,
    private readonly cores: number,
    private readonly baseThreads: number,
    private readonly everyMs = 3000,
  ) {
    this.dir = path.join(os.tmpdir(), `genmeasures-workers-${createHash('sha256').update(db).digest('hex').slice(0, 12)}`);
    this.file = path.join(this.dir, String(process.pid));
    this.threads = baseThreads;
  }

  /** This worker is working on a run (true) or waiting for one (false). */
  mark(busy: boolean): void {
    try {
      fs.mkdirSync(this.dir, { recursive: true });
      fs.writeFileSync(this.file, busy ? 'busy' : 'idle');
    } catch {
      /* no shared temporary folder: every worker keeps its own thread count */
    }
    if (busy && !this.timer) {
      this.timer = setInterval(() => this.rebalance(), this.everyMs);
      this.timer.unref();
      this.rebalance();
    } else if (!busy && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
      this.set(this.baseThreads);
    }
  }

  /** Busy workers of this machine now (this one included), from the live processes' files. */
  busyWorkers(): number {
    let busy = 0;
    let names: string[] = [];
    try {
      names = fs.readdirSync(this.dir);
    } catch {
      return 1;
    }
    for (const name of names) {
      const pid = Number(name);
      if (!pidAlive(pid)) {
        if (pid !== process.pid) fs.rmSync(path.join(this.dir, name), { force: true });
        continue;
      }
      try {
        if (fs.readFileSync(path.join(this.dir, name), 'utf8') === 'busy') busy++;
      } catch {
        /* removed meanwhile */
      }
    }
    return Math.max(1, busy);
  }

  private rebalance(): void {
    this.set(Math.max(this.baseThreads, Math.min(this.cores, Math.floor(this.cores / this.busyWorkers()))));
  }

  private set(threads: number): void {
    if (threads === this.threads) return;
    this.threads = threads;
    setEngineThreads(threads);
  }

  /** The worker ends: its file goes. */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    fs.rmSync(this.file, { force: true });
  }
}
