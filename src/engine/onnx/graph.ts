/**
 * A small builder for ONNX graphs: named inputs and outputs, constant initializers, nodes with typed
 * attributes, and subgraphs (a Loop body) that may read values of the graph around them. `toModel`
 * encodes a ModelProto with protobufjs (see schema.ts).
 *
 *   const g = new Graph('forward');
 *   const x = g.input('x', 'float', ['B', 784]);
 *   const y = g.op('Relu', [g.op('MatMul', [x, w])]);
 *   g.output(y, 'float');
 *   const bytes = g.toModel();
 */
import { AttributeType, DataType, ModelProto } from './schema.js';

export type ElemType = 'float' | 'int64' | 'bool';
export type Dim = number | string;

const ELEM: Record<ElemType, number> = { float: DataType.FLOAT, int64: DataType.INT64, bool: DataType.BOOL };

/** A float attribute (plain numbers are integer attributes). */
export class FloatAttr {
  constructor(readonly value: number) {}
}
export const float = (v: number) => new FloatAttr(v);

export type AttrValue = number | number[] | string | FloatAttr | Graph;

/** The opset the generated graphs use. */
export const OPSET = 17;
const IR_VERSION = 8;

interface ValueInfo {
  name: string;
  type: { tensorType: { elemType: number; shape?: { dim: ({ dimValue: number } | { dimParam: string })[] } } };
}

function valueInfo(name: string, elem: ElemType, dims?: Dim[]): ValueInfo {
  const tensorType: ValueInfo['type']['tensorType'] = { elemType: ELEM[elem] };
  if (dims) tensorType.shape = { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) };
  return { name, type: { tensorType } };
}

/** Shared name counter of a graph and its subgraphs (names must be unique across scopes). */
interface Names {
  next: number;
}

export class Graph {
  private readonly nodes: object[] = [];
  private readonly inputs: ValueInfo[] = [];
  private readonly outputs: ValueInfo[] = [];
  private readonly initializers: object[] = [];
  private readonly constCache = new Map<string, string>();
  /** Operator domains other than ONNX's own that this graph's nodes use (shared with subgraphs). */
  private readonly domains: Set<string>;

  constructor(
    readonly name: string,
    private readonly names: Names = { next: 0 },
    domains?: Set<string>,
  ) {
    this.domains = domains ?? new Set();
  }

  /** A fresh, unique value name. */
  fresh(hint = 't'): string {
    return `${hint}_${this.names.next++}`;
  }

  /** A subgraph sharing this graph's name space (for Loop bodies). */
  subgraph(name: string): Graph {
    return new Graph(name, this.names, this.domains);
  }

  input(name: string, elem: ElemType, dims?: Dim[]): string {
    this.inputs.push(valueInfo(name, elem, dims));
    return name;
  }

  /** Declare `value` an output, renamed to `name` when given (through an Identity node). */
  output(value: string, elem: ElemType, dims?: Dim[], name?: string): string {
    let out = value;
    if (name && name !== value) {
      this.nodes.push({ input: [value], output: [name], opType: 'Identity', name: this.fresh('n') });
      out = name;
    }
    this.outputs.push(valueInfo(out, elem, dims));
    return out;
  }

  /** A constant tensor (an initializer); identical constants are stored once. */
  constant(values: ArrayLike<number>, dims: number[], elem: 'float' | 'int64' = 'float'): string {
    const key = values.length <= 16 ? `${elem}:${dims.join('x')}:${Array.from(values).join(',')}` : null;
    if (key) {
      const hit = this.constCache.get(key);
      if (hit) return hit;
    }
    const name = this.fresh('c');
    let raw: Uint8Array;
    if (elem === 'float') {
      const a = Float32Array.from(values);
      raw = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    } else {
      const a = BigInt64Array.from(Array.from(values, (v) => BigInt(v)));
      raw = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    }
    this.initializers.push({ name, dims, dataType: ELEM[elem], rawData: raw });
    if (key) this.constCache.set(key, name);
    return name;
  }

  /** int64 constant vector (shapes, axes, indices). */
  ints(values: number[]): string {
    return this.constant(values, [values.length], 'int64');
  }

  /** int64 scalar constant. */
  int(value: number): string {
    return this.constant([value], [], 'int64');
  }

  /** float scalar constant. */
  scalar(value: number): string {
    return this.constant([value], [], 'float');
  }

  /** A node with one output; returns the output's name. */
  op(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, outName?: string): string {
    return this.opN(opType, inputs, 1, attrs, outName ? [outName] : undefined)[0];
  }

  /** A node with n outputs. */
  opN(opType: string, inputs: string[], n: number, attrs: Record<string, AttrValue> = {}, outNames?: string[]): string[] {
    return this.domainOpN('', opType, inputs, n, attrs, outNames);
  }

  /**
   * A node of an operator domain other than ONNX's (e.g. ONNX Runtime's 'com.microsoft.nchwc' kernels),
   * version 1 of that domain; one output.
   */
  domainOp(domain: string, opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}): string {
    return this.domainOpN(domain, opType, inputs, 1, attrs)[0];
  }

  private domainOpN(domain: string, opType: string, inputs: string[], n: number, attrs: Record<string, AttrValue>, outNames?: string[]): string[] {
    const outputs = outNames ?? Array.from({ length: n }, () => this.fresh(opType.toLowerCase()));
    const attribute = Object.entries(attrs).map(([name, v]) => encodeAttr(name, v));
    const node: Record<string, unknown> = { input: inputs, output: outputs, opType, name: this.fresh('n'), attribute };
    if (domain) {
      node.domain = domain;
      this.domains.add(domain);
    }
    this.nodes.push(node);
    return outputs;
  }

  /** The GraphProto object. */
  proto(): object {
    return { name: this.name, node: this.nodes, input: this.inputs, output: this.outputs, initializer: this.initializers };
  }

  /** An encoded ModelProto with this graph as its main graph. */
  toModel(producer = 'genmeasures'): Uint8Array {
    const msg = ModelProto.fromObject({
      irVersion: IR_VERSION,
      producerName: producer,
      producerVersion: '0.2.0',
      opsetImport: [{ domain: '', version: OPSET }, ...[...this.domains].sort().map((domain) => ({ domain, version: 1 }))],
      graph: this.proto(),
    });
    return ModelProto.encode(msg).finish();
  }
}

function encodeAttr(name: string, v: AttrValue): object {
  if (v instanceof Graph) return { name, type: AttributeType.GRAPH, g: v.proto() };
  if (v instanceof FloatAttr) return { name, type: AttributeType.FLOAT, f: v.value };
  if (typeof v === 'string') return { name, type: AttributeType.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: AttributeType.INTS, ints: v };
  if (!Number.isInteger(v)) throw new Error(`attribute ${name}: ${v} is not an integer (use float())`);
  return { name, type: AttributeType.INT, i: v };
}
