/**
 * One computeMeasures call's session: the cache of quantities, their timings, the components and notes,
 * and the context each quantity or measure computes in, which gives access to exactly what it declared
 * (reading an undeclared quantity or option, or writing an undeclared component, throws: a bug in the
 * declaration, found the first time it runs, not a silently missing dependency).
 */
import type { Dataset } from '../data/types.js';
import type { Network } from '../models/network.js';
import type { Progress } from '../util/progress.js';
import { componentName, type ComponentField, type ComponentRef } from './components.js';
import { optionNamed, type OptionDef } from './options.js';
import type { ComputeContext, ProgressFactory, Quantity, ResolvedOptions } from './types.js';

const quietProgress: Progress = { update() {}, log() {}, done() {} };

interface Declaring {
  name: string;
  reads: readonly Quantity<any>[];
  options: readonly string[];
  components: readonly ComponentRef[];
}

export class Session {
  readonly components: Record<string, unknown> = {};
  readonly notes: string[] = [];
  readonly quantityTimings: Record<string, number> = {};
  private readonly cache = new Map<string, { q: Quantity<unknown>; value: Promise<unknown> }>();

  constructor(
    readonly net: Network,
    readonly data: Dataset | null,
    readonly options: ResolvedOptions,
    private readonly progressFactory?: ProgressFactory,
  ) {}

  note(text: string): void {
    if (!this.notes.includes(text)) this.notes.push(text);
  }

  /** The value of a quantity: computed on the first call (and timed), the same promise after. */
  quantity<T>(q: Quantity<T>): Promise<T> {
    const hit = this.cache.get(q.name);
    if (hit) return hit.value as Promise<T>;
    if (q.needs.includes('data') && !this.data) throw new Error(`the quantity ${q.name} needs the training data (a measure that reads it must need 'data')`);
    if (q.needs.includes('initial') && !this.options.initial) throw new Error(`the quantity ${q.name} needs the initial weights (a measure that reads it must need 'initial')`);
    const ctx = this.context(`quantity ${q.name}`, q);
    const t0 = performance.now();
    const value = Promise.resolve()
      .then(() => q.compute(ctx))
      .then((v) => {
        this.quantityTimings[q.name] = Math.round(performance.now() - t0);
        return v;
      });
    this.cache.set(q.name, { q: q as Quantity<unknown>, value });
    return value;
  }

  /** A quantity's value when it was computed in this session (undefined otherwise): nothing is computed. */
  computed<T>(q: Quantity<T>): Promise<T> | undefined {
    return this.cache.get(q.name)?.value as Promise<T> | undefined;
  }

  /** Release what the computed quantities hold (dispose), whatever happened; errors are ignored. */
  async dispose(): Promise<void> {
    for (const { q, value } of this.cache.values()) {
      if (q.dispose) await value.then((v) => q.dispose!(v), () => undefined).catch(() => undefined);
    }
  }

  /** The context of a quantity or measure: its declared reads, options and components, nothing else. */
  context(who: string, d: Declaring): ComputeContext<any, any> {
    const session = this;
    const declaredOptions = new Set(d.options);
    const written = new Set(d.components.map(componentName));
    const view: Record<string, unknown> = {};
    for (const o of d.options) view[o] = this.options[o];
    const options = new Proxy(Object.freeze(view), {
      get(target, key) {
        if (typeof key === 'string' && !(key in target) && (optionNamed(key) || key in session.options)) {
          throw new Error(`${who} reads the option ${key}, which it does not declare in options`);
        }
        return Reflect.get(target, key);
      },
    });
    return {
      net: this.net,
      data: this.data,
      initial: this.options.initial,
      options,
      read(q: Quantity<any>) {
        if (!d.reads.includes(q)) throw new Error(`${who} reads the quantity ${q.name}, which it does not declare in reads`);
        return session.quantity(q);
      },
      option<T>(o: OptionDef<string, T>): T {
        if (!declaredOptions.has(o.name)) throw new Error(`${who} reads the option ${o.name}, which it does not declare in options`);
        return session.options[o.name] as T;
      },
      set(field: ComponentField<unknown> | string, value: unknown) {
        const name = componentName(field);
        if (!written.has(name)) throw new Error(`${who} writes the component ${name}, which it does not declare in components`);
        if (typeof field === 'object' && field.merge) {
          session.components[name] = { ...((session.components[name] as object | undefined) ?? {}), ...(value as object) };
        } else session.components[name] = value;
      },
      note: (text: string) => this.note(text),
      progress: (label: string, total: number) => (this.progressFactory ? this.progressFactory(label, total) : quietProgress),
    };
  }
}
