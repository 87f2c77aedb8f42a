/**
 * Components: the intermediate numbers a report keeps beside the measures (γ's k, the spectral norms, the
 * α* of the bound …), in MeasureReport.components and in every stored run. A quantity or a measure
 * declares the component fields it writes (`components: [...]`), and writes them with ctx.set; a field
 * another part of the code reads back (the report's figures and ranking) is a `defineComponent` with a
 * type guard, read with `field.read(components)`: the reader gets a typed value or undefined, never an
 * untyped lookup of stored JSON.
 */
import { UserError } from '../errors.js';

export interface ComponentField<T> {
  readonly name: string;
  readonly doc: string;
  /** A record of several writers' entries (log10): ctx.set merges into it instead of replacing it. */
  readonly merge: boolean;
  readonly guard: (x: unknown) => x is T;
  /** The field's value in a report's (or a stored run's) components, when it is there and of its type. */
  read(components: Record<string, unknown> | null | undefined): T | undefined;
}

/** A component named in a declaration: its name, or a typed field. */
export type ComponentRef = string | ComponentField<any>;

export const componentName = (c: ComponentRef): string => (typeof c === 'string' ? c : c.name);

export function defineComponent<T>(name: string, doc: string, guard: (x: unknown) => x is T, opts: { merge?: boolean } = {}): ComponentField<T> {
  if (!/^[a-z][a-z0-9]*(_[a-z0-9]+)*$/.test(name)) throw new UserError(`defineComponent: the name ${JSON.stringify(name)} is not snake_case`);
  return {
    name,
    doc,
    merge: !!opts.merge,
    guard,
    read: (c) => {
      const v = c?.[name];
      return guard(v) ? v : undefined;
    },
  };
}

export const isNumber = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
export const isNumberArray = (x: unknown): x is number[] => Array.isArray(x) && x.every(isNumber);
const isNumberOrNull = (x: unknown): x is number | null => x === null || isNumber(x);
const isLog10Record = (x: unknown): x is Record<string, number | null> =>
  !!x && typeof x === 'object' && !Array.isArray(x) && Object.values(x).every(isNumberOrNull);
const isEdge = (x: unknown): x is 'low' | 'high' | null => x === 'low' || x === 'high' || x === null;

// ---- the fields the report reads ------------------------------------------------------------------------

export const WIDTHS = defineComponent('widths', 'h_i: the number of units of each weight layer', isNumberArray);
export const SPECTRAL_NORMS = defineComponent('spectral_norms', '‖W_i‖₂ of each weight layer', isNumberArray);
export const FRO_NORMS = defineComponent('fro_norms', '‖W_i‖_F of each weight layer', isNumberArray);
export const L1_PATH_SUM = defineComponent('l1_path_sum', 'Σ_paths ∏|w| (null beyond float64; its log10 in log10.l1_path_sum)', isNumberOrNull);
export const L2_PATH_SUM = defineComponent('l2_path_sum', 'Σ_paths ∏w² (null beyond float64; its log10 in log10.l2_path_sum)', isNumberOrNull);
export const LOG10 = defineComponent('log10', 'log10 of the measures computed as products (and of the path sums): kept when the value overflows float64', isLog10Record, { merge: true });
export const PAC_BAYES_ALPHA = defineComponent('pac_bayes_alpha', 'α*: the α of the grid with the smallest √ PAC-Bayes bound', isNumber);
export const PAC_BAYES_ALPHA_AT_EDGE = defineComponent('pac_bayes_alpha_at_edge', "'low' or 'high' when α* is the first or last value of the α grid, else null", isEdge);
