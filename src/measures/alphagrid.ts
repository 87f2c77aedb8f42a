/**
 * The α grid of the PAC-Bayes bound (pacbayes.ts) and its text form (--alpha-grid): a module of its own,
 * so that the option declarations (options.ts) can use it without importing the measures.
 */
import { UserError } from '../errors.js';

/** n log-spaced values from lo to hi (default: the grid 1e-4 … 1e-1, 16 values). */
export function alphaGrid(n = 16, lo = 1e-4, hi = 1e-1): number[] {
  if (n === 1) return [lo];
  return Array.from({ length: n }, (_, i) => 10 ** (Math.log10(lo) + ((Math.log10(hi) - Math.log10(lo)) * i) / (n - 1)));
}

/** The most values an α grid may have (every value costs K evaluations of the training error). */
export const MAX_ALPHA_GRID = 1000;

/**
 * The α grid of a "LO:HI:N" text (N log-spaced values from LO to HI; 0 < LO < HI, N a whole number
 * 2 … 1000) or of a comma list "a,b,c" (at least 2 positive, increasing numbers). A bad text is a
 * UserError starting "--alpha-grid: ".
 */
export function parseAlphaGrid(text: string): number[] {
  const bad = (why: string): never => {
    throw new UserError(`--alpha-grid: ${why} (expected LO:HI:N, e.g. 1e-4:0.1:16, or a list of increasing α, e.g. 1e-3,1e-2,0.1)`);
  };
  const num = (v: string) => {
    const x = Number(v.trim());
    if (v.trim() === '' || !Number.isFinite(x)) bad(`"${v.trim()}" is not a number`);
    return x;
  };
  const t = text.trim();
  if (t.includes(':')) {
    const parts = t.split(':');
    if (parts.length !== 3) bad(`"${t}" is not LO:HI:N`);
    const [lo, hi, n] = parts.map(num);
    if (!(lo > 0 && hi > 0)) bad(`LO and HI must be positive (got ${lo} and ${hi})`);
    if (!(lo < hi)) bad(`LO must be smaller than HI (got ${lo}:${hi})`);
    if (!Number.isInteger(n) || n < 2 || n > MAX_ALPHA_GRID) bad(`N must be a whole number from 2 to ${MAX_ALPHA_GRID} (got ${parts[2].trim()})`);
    return alphaGrid(n, lo, hi);
  }
  const values = t.split(',').map(num);
  if (values.length < 2) bad(`"${t}" is one value; the grid needs at least 2`);
  if (values.length > MAX_ALPHA_GRID) bad(`${values.length} values; at most ${MAX_ALPHA_GRID}`);
  if (values.some((a) => !(a > 0))) bad(`every α must be positive (got ${t})`);
  if (values.some((a, i) => i > 0 && !(a > values[i - 1]))) bad(`the values must increase (got ${t})`);
  return values;
}
