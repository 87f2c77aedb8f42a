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
