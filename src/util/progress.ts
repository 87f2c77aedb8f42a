/**
 * Progress for long work: a redrawn bar on a terminal (stderr is a TTY), plain lines otherwise
 * (at most one every `plainIntervalMs`, plus the final one), or nothing when quiet.
 */
export interface Progress {
  /** Set the amount done (0..total) and an optional status text. */
  update(done: number, status?: string): void;
  /** Print a line above the bar (e.g. one line per finished epoch or run). */
  log(line: string): void;
  /** Finish: draw the final state and move to a new line. */
  done(status?: string): void;
}

export interface ProgressOptions {
  total: number;
  label: string;
  stream?: NodeJS.WriteStream;
  quiet?: boolean;
  plainIntervalMs?: number;
  /** Word(s) before the time left, e.g. 'ETA ≤' when `total` is only a cap (training stops earlier when it converges). */
  etaLabel?: string;
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '?';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

export function createProgress(opts: ProgressOptions): Progress {
  const stream = opts.stream ?? process.stderr;
  const tty = !!stream.isTTY && !opts.quiet;
  const start = Date.now();
  let lastPlain = 0;
  let lastDone = 0;
  let lastStatus = '';
  const interval = opts.plainIntervalMs ?? 10000;
  const line = (done: number, status: string) => {
    const frac = opts.total > 0 ? Math.min(1, done / opts.total) : 0;
    const elapsed = Date.now() - start;
    const eta = frac > 0 && frac < 1 ? formatDuration((elapsed / frac) * (1 - frac)) : frac >= 1 ? '0s' : '?';
    const width = 24;
    const filled = Math.round(frac * width);
    const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
    const etaLabel = opts.etaLabel ?? 'ETA';
    return {
      bar: `${opts.label} ${bar} ${done}/${opts.total} ${status} ${etaLabel} ${eta}`,
      plain: `${opts.label} ${done}/${opts.total} ${status} (elapsed ${formatDuration(elapsed)}, ${etaLabel} ${eta})`,
    };
  };
  const draw = () => {
    if (!tty) return;
    const cols = stream.columns || 100;
    stream.write(`\r\x1b[2K${line(lastDone, lastStatus).bar.slice(0, cols - 1)}`);
  };
  return {
    update(done, status = '') {
      lastDone = done;
      lastStatus = status;
      if (opts.quiet) return;
      if (tty) draw();
      else if (Date.now() - lastPlain >= interval) {
        lastPlain = Date.now();
        stream.write(line(done, status).plain + '\n');
      }
    },
    log(text) {
      if (opts.quiet) return;
      if (tty) {
        stream.write(`\r\x1b[2K${text}\n`);
        draw();
      } else stream.write(text + '\n');
    },
    done(status) {
      if (status !== undefined) lastStatus = status;
      if (opts.quiet) return;
      if (tty) {
        draw();
        stream.write('\n');
      } else stream.write(line(lastDone, lastStatus).plain + '\n');
    },
  };
}

export interface TrainProgressOptions {
  /** Training stops when the epoch-average cross-entropy is below this. */
  targetLoss: number;
  /** Epoch cap (training stops there if it has not converged). */
  maxEpochs: number;
  stream?: NodeJS.WriteStream;
  quiet?: boolean;
}

export interface TrainProgress {
  /** One finished epoch: its number, its epoch-average loss, and a status text (error, time per epoch…). */
  update(epoch: number, loss: number, status?: string): void;
  /** Finish: draw the final state and move to a new line. */
  done(status?: string): void;
}

/**
 * How far training is toward its stopping criterion, in [0, 1]: the loss on a log scale, from the first
 * epoch's loss (0) down to the target (1). Cross-entropy falls roughly geometrically, so equal steps of
 * the bar are equal factors of the loss; an epoch cap counted in epochs would leave the bar empty.
 */
export function lossProgress(firstLoss: number, loss: number, target: number): number {
  if (!(loss > 0) || !(target > 0)) return loss <= target ? 1 : 0;
  if (loss <= target) return 1;
  if (!(firstLoss > target)) return 0;
  const f = Math.log(firstLoss / loss) / Math.log(firstLoss / target);
  return Math.max(0, Math.min(1, f));
}

/**
 * The terminal progress bar of `genmeasures train` (stderr): the epoch count, and a bar of the loss
 * toward the target on a log scale, e.g.
 *   epoch 12 (cap 1000) ████████░░░░░░░░ loss 0.0423 → < 0.01 · ETA ~8s · train error 1.20% (0.1s/epoch)
 * The ETA extrapolates the fall of log(loss) over the last epochs (shown as "?" while the loss does not fall).
 */
export function createTrainProgress(opts: TrainProgressOptions): TrainProgress {
  const stream = opts.stream ?? process.stderr;
  const tty = !!stream.isTTY && !opts.quiet;
  const width = 20;
  let first: number | null = null;
  const recent: { epoch: number; loss: number; t: number }[] = [];
  let text = '';
  const draw = () => {
    if (!tty) return;
    const cols = stream.columns || 100;
    stream.write(`\r\x1b[2K${text.slice(0, cols - 1)}`);
  };
  const eta = (epoch: number, loss: number): string => {
    if (loss < opts.targetLoss) return '0s';
    const a = recent[0];
    const b = recent[recent.length - 1];
    if (!a || b.epoch <= a.epoch || !(a.loss > b.loss) || !(b.loss > 0)) return '?';
    const perEpoch = Math.log(a.loss / b.loss) / (b.epoch - a.epoch); // fall of log(loss) per epoch
    const epochsLeft = Math.min(opts.maxEpochs - epoch, Math.ceil(Math.log(loss / opts.targetLoss) / perEpoch));
    const msPerEpoch = (b.t - a.t) / (b.epoch - a.epoch);
    return `~${formatDuration(epochsLeft * msPerEpoch)}`;
  };
  return {
    update(epoch, loss, status = '') {
      if (first === null) first = loss;
      recent.push({ epoch, loss, t: Date.now() });
      if (recent.length > 6) recent.shift();
      const frac = lossProgress(first, loss, opts.targetLoss);
      const filled = Math.round(frac * width);
      const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
      const lossText = Number.isFinite(loss) ? loss.toPrecision(3) : String(loss);
      // the ETA before the status: a narrow terminal cuts the end of the line
      text = `epoch ${epoch} (cap ${opts.maxEpochs}) ${bar} loss ${lossText} → < ${opts.targetLoss} · ETA ${eta(epoch, loss)}${status ? ` · ${status}` : ''}`;
      if (!opts.quiet) draw();
    },
    done(status) {
      if (status !== undefined) text += ` ${status}`;
      if (!tty) return;
      draw();
      stream.write('\n');
    },
  };
}
