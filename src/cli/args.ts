/**
 * A small, declarative option parser over node:util parseArgs: every option has a type, a default
 * and a help line, so each command's help text and validation come from one table.
 * Bad options are UserErrors naming the option.
 */
import { parseArgs } from 'node:util';
import { UserError } from '../errors.js';

export type OptionType = 'string' | 'number' | 'int' | 'boolean';

export interface OptionDef {
  type: OptionType;
  help: string;
  default?: string | number | boolean;
  /** Value placeholder shown in help, e.g. "DIR". */
  value?: string;
  /** Allowed values (for strings). */
  choices?: string[];
  short?: string;
  /** Numbers: minimum allowed (inclusive). */
  min?: number;
  max?: number;
}

export interface CommandDef {
  name: string;
  summary: string;
  usage: string;
  options: Record<string, OptionDef>;
  /** Extra lines after the options, e.g. examples. */
  epilog?: string;
  /** Whether positional arguments are accepted. */
  positionals?: boolean;
}

export type ParsedOptions = Record<string, string | number | boolean | undefined>;

export function helpText(cmd: CommandDef): string {
  const lines = [`genmeasures ${cmd.name}: ${cmd.summary}`, '', `Usage: ${cmd.usage}`, '', 'Options:'];
  const entries = Object.entries(cmd.options);
  const left = entries.map(([name, o]) => `  --${name}${o.type === 'boolean' ? '' : ` ${o.value ?? o.type.toUpperCase()}`}`);
  const width = Math.max(...left.map((l) => l.length), 12) + 2;
  entries.forEach(([, o], i) => {
    let h = o.help;
    if (o.choices) h += ` (${o.choices.join('|')})`;
    if (o.default !== undefined && o.type !== 'boolean') h += ` [default: ${o.default}]`;
    lines.push(left[i].padEnd(width) + h);
  });
  lines.push('  --help'.padEnd(width) + 'show this help');
  if (cmd.epilog) lines.push('', cmd.epilog);
  return lines.join('\n');
}

/** A negative number (-1, -0.5, -.5, -1e-3) or a list that starts with one (-0.1,0.3). */
const NEGATIVE = /^-(\d|\.\d)/;

/**
 * parseArgs takes a value that starts with '-' for an option-like token and calls `--seed -1`
 * ambiguous. After an option that takes a value, a negative number is its value: `--seed -1` becomes
 * `--seed=-1` (a short `-s -1` becomes `-s-1`), so that the option's own checks judge it
 * (`--lr -1`: "--lr: -1 must be a positive number").
 */
export function attachNegativeValues(cmd: CommandDef, argv: string[]): string[] {
  const takesValue = new Set<string>();
  for (const [name, o] of Object.entries(cmd.options)) {
    if (o.type === 'boolean') continue;
    takesValue.add(`--${name}`);
    if (o.short) takesValue.add(`-${o.short}`);
  }
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const next = argv[i + 1];
    if (takesValue.has(a) && next !== undefined && NEGATIVE.test(next)) {
      out.push(a.startsWith('--') ? `${a}=${next}` : `${a}${next}`);
      i++;
      continue;
    }
    out.push(a);
  }
  return out;
}

export function parseCommand(cmd: CommandDef, argv: string[]): { options: ParsedOptions; positionals: string[]; help: boolean } {
  const config: Record<string, { type: 'string' | 'boolean'; short?: string }> = { help: { type: 'boolean', short: 'h' } };
  for (const [name, o] of Object.entries(cmd.options)) {
    config[name] = { type: o.type === 'boolean' ? 'boolean' : 'string', ...(o.short ? { short: o.short } : {}) };
  }
  let parsed;
  try {
    parsed = parseArgs({ args: attachNegativeValues(cmd, argv), options: config, allowPositionals: true, strict: true });
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0];
    const m = /Unknown option '([^']+)'/.exec(msg);
    if (m) throw new UserError(`unknown option ${m[1]} (see genmeasures ${cmd.name} --help)`);
    const amb = /Option '([^' ]+)[^']*' argument is ambiguous/.exec(msg);
    if (amb) {
      const value = argv[argv.indexOf(amb[1]) + 1] ?? '';
      throw new UserError(`${amb[1]}: needs a value, got the option-like "${value}" (for a value that starts with "-", write ${amb[1]}=${value || 'VALUE'})`);
    }
    throw new UserError(msg);
  }
  if (parsed.values.help) return { options: {}, positionals: [], help: true };
  if (!cmd.positionals && parsed.positionals.length > 0) {
    throw new UserError(`unexpected argument "${parsed.positionals[0]}" (see genmeasures ${cmd.name} --help)`);
  }
  const options: ParsedOptions = {};
  for (const [name, o] of Object.entries(cmd.options)) {
    const raw = (parsed.values as Record<string, string | boolean | undefined>)[name];
    if (raw === undefined) {
      options[name] = o.default;
      continue;
    }
    if (o.type === 'boolean') {
      options[name] = raw as boolean;
      continue;
    }
    const s = raw as string;
    if (o.type === 'string') {
      if (o.choices && !o.choices.includes(s)) throw new UserError(`--${name}: "${s}" is not one of ${o.choices.join(', ')}`);
      options[name] = s;
      continue;
    }
    const v = Number(s);
    if (s.trim() === '' || !Number.isFinite(v)) throw new UserError(`--${name}: "${s}" is not a number`);
    if (o.type === 'int' && !Number.isInteger(v)) throw new UserError(`--${name}: "${s}" is not a whole number`);
    if (o.min !== undefined && v < o.min) throw new UserError(`--${name}: ${s} is below the minimum ${o.min}`);
    if (o.max !== undefined && v > o.max) throw new UserError(`--${name}: ${s} is above the maximum ${o.max}`);
    options[name] = v;
  }
  return { options, positionals: parsed.positionals, help: false };
}
