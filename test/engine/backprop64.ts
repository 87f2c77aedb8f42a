/**
 * An independent float64 reference for the engine's gradient tests: direct loops over NHWC arrays (no
 * unrolling, no ONNX), forward and hand-written backward for dense, conv (TF 'same'/'valid' padding,
 * strides), ReLU, max-pooling (the gradient goes to the first maximum of a window in row-major order) and
 * average pooling (padding not counted), and the summed softmax cross-entropy. Checked itself against
 * central finite differences in gradients.test.ts.
 */
import type { Layer, Network } from '../../src/models/network.js';

function padOf(inSize: number, k: number, s: number, padding: 'same' | 'valid'): { out: number; before: number } {
  if (padding === 'valid') return { out: Math.floor((inSize - k) / s) + 1, before: 0 };
  const out = Math.ceil(inSize / s);
  const total = Math.max((out - 1) * s + k - inSize, 0);
  return { out, before: Math.floor(total / 2) };
}

type Params = Float64Array[];

interface Cache {
  input: Float64Array;
  output: Float64Array;
  argmax?: Int32Array;
}

function layerForward(l: Layer, a: Float64Array, kernel: Float64Array | null, bias: Float64Array | null): Cache {
  switch (l.kind) {
    case 'flatten':
      return { input: a, output: a };
    case 'relu':
      return { input: a, output: a.map((v) => Math.max(0, v)) };
    case 'dense': {
      const y = new Float64Array(l.outSize);
      for (let o = 0; o < l.outSize; o++) {
        let s = bias ? bias[o] : 0;
        for (let i = 0; i < l.inSize; i++) s += a[i] * kernel![i * l.outSize + o];
        y[o] = s;
      }
      return { input: a, output: y };
    }
    case 'conv2d': {
      const [h, w, cin] = l.inShape;
      const [ho, wo, cout] = l.outShape;
      const [kh, kw] = l.kernelSize;
      const py = padOf(h, kh, l.strides[0], l.padding);
      const px = padOf(w, kw, l.strides[1], l.padding);
      const y = new Float64Array(ho * wo * cout);
      for (let oy = 0; oy < ho; oy++)
        for (let ox = 0; ox < wo; ox++)
          for (let o = 0; o < cout; o++) {
            let s = bias ? bias[o] : 0;
            for (let i = 0; i < kh; i++)
              for (let j = 0; j < kw; j++) {
                const iy = oy * l.strides[0] + i - py.before;
                const ix = ox * l.strides[1] + j - px.before;
                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                for (let c = 0; c < cin; c++) s += a[(iy * w + ix) * cin + c] * kernel![((i * kw + j) * cin + c) * cout + o];
              }
            y[(oy * wo + ox) * cout + o] = s;
          }
      return { input: a, output: y };
    }
    case 'maxpool':
    case 'avgpool': {
      const [h, w, c] = l.inShape;
      const [ho, wo] = l.outShape;
      const [kh, kw] = l.poolSize;
      const py = padOf(h, kh, l.strides[0], l.padding);
      const px = padOf(w, kw, l.strides[1], l.padding);
      const y = new Float64Array(ho * wo * c);
      const argmax = new Int32Array(ho * wo * c);
      for (let oy = 0; oy < ho; oy++)
        for (let ox = 0; ox < wo; ox++)
          for (let ch = 0; ch < c; ch++) {
            let best = -Infinity;
            let arg = -1;
            let sum = 0;
            let n = 0;
            for (let i = 0; i < kh; i++)
              for (let j = 0; j < kw; j++) {
                const iy = oy * l.strides[0] + i - py.before;
                const ix = ox * l.strides[1] + j - px.before;
                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                const k = (iy * w + ix) * c + ch;
                if (a[k] > best) {
                  best = a[k];
                  arg = k;
                }
                sum += a[k];
                n++;
              }
            const o = (oy * wo + ox) * c + ch;
            y[o] = l.kind === 'maxpool' ? best : sum / n;
            argmax[o] = arg;
          }
      return { input: a, output: y, argmax };
    }
  }
}

function layerBackward(l: Layer, cache: Cache, dy: Float64Array, kernel: Float64Array | null, dK: Float64Array | null, dB: Float64Array | null): Float64Array {
  const a = cache.input;
  const dx = new Float64Array(a.length);
  switch (l.kind) {
    case 'flatten':
      return dy;
    case 'relu':
      for (let i = 0; i < a.length; i++) dx[i] = cache.output[i] > 0 ? dy[i] : 0;
      return dx;
    case 'dense':
      for (let o = 0; o < l.outSize; o++) {
        if (dB) dB[o] += dy[o];
        for (let i = 0; i < l.inSize; i++) {
          dK![i * l.outSize + o] += a[i] * dy[o];
          dx[i] += kernel![i * l.outSize + o] * dy[o];
        }
      }
      return dx;
    case 'conv2d': {
      const [h, w, cin] = l.inShape;
      const [ho, wo, cout] = l.outShape;
      const [kh, kw] = l.kernelSize;
      const py = padOf(h, kh, l.strides[0], l.padding);
      const px = padOf(w, kw, l.strides[1], l.padding);
      for (let oy = 0; oy < ho; oy++)
        for (let ox = 0; ox < wo; ox++)
          for (let o = 0; o < cout; o++) {
            const g = dy[(oy * wo + ox) * cout + o];
            if (dB) dB[o] += g;
            for (let i = 0; i < kh; i++)
              for (let j = 0; j < kw; j++) {
                const iy = oy * l.strides[0] + i - py.before;
                const ix = ox * l.strides[1] + j - px.before;
                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                for (let c = 0; c < cin; c++) {
                  const ki = ((i * kw + j) * cin + c) * cout + o;
                  const xi = (iy * w + ix) * cin + c;
                  dK![ki] += a[xi] * g;
                  dx[xi] += kernel![ki] * g;
                }
              }
          }
      return dx;
    }
    case 'maxpool':
      cache.argmax!.forEach((k, o) => (dx[k] += dy[o]));
      return dx;
    case 'avgpool': {
      const [h, w, c] = l.inShape;
      const [ho, wo] = l.outShape;
      const [kh, kw] = l.poolSize;
      const py = padOf(h, kh, l.strides[0], l.padding);
      const px = padOf(w, kw, l.strides[1], l.padding);
      for (let oy = 0; oy < ho; oy++)
        for (let ox = 0; ox < wo; ox++)
          for (let ch = 0; ch < c; ch++) {
            const cells: number[] = [];
            for (let i = 0; i < kh; i++)
              for (let j = 0; j < kw; j++) {
                const iy = oy * l.strides[0] + i - py.before;
                const ix = ox * l.strides[1] + j - px.before;
                if (iy >= 0 && iy < h && ix >= 0 && ix < w) cells.push((iy * w + ix) * c + ch);
              }
            for (const k of cells) dx[k] += dy[(oy * wo + ox) * c + ch] / cells.length;
          }
      return dx;
    }
  }
}

/** Parameter slots (kernel index, bias index or -1) of each layer, in parameterArrays order. */
function slots(net: Network): { k: number; b: number }[] {
  let p = 0;
  return net.layers.map((l) => {
    if (l.kind !== 'dense' && l.kind !== 'conv2d') return { k: -1, b: -1 };
    const k = p++;
    const b = l.bias ? p++ : -1;
    return { k, b };
  });
}

/** Logits of one flat NHWC example at the given parameters, in float64. */
export function logits64(net: Network, params: Params, x: ArrayLike<number>): Float64Array {
  const sl = slots(net);
  let a: Float64Array = Float64Array.from(x);
  net.layers.forEach((l, i) => {
    a = layerForward(l, a, sl[i].k >= 0 ? params[sl[i].k] : null, sl[i].b >= 0 ? params[sl[i].b] : null).output;
  });
  return a;
}

/** Σ over the examples of the softmax cross-entropy, and its gradient with respect to every parameter. */
export function lossGrad64(net: Network, params: Params, x: ArrayLike<number>, y: ArrayLike<number>, n: number): { loss: number; grads: Float64Array[] } {
  const sl = slots(net);
  const size = x.length / n;
  const grads = params.map((p) => new Float64Array(p.length));
  let loss = 0;
  for (let e = 0; e < n; e++) {
    let a: Float64Array = Float64Array.from(Array.prototype.slice.call(x, e * size, (e + 1) * size) as number[]);
    const caches: Cache[] = [];
    net.layers.forEach((l, i) => {
      const c = layerForward(l, a, sl[i].k >= 0 ? params[sl[i].k] : null, sl[i].b >= 0 ? params[sl[i].b] : null);
      caches.push(c);
      a = c.output;
    });
    const mx = Math.max(...a);
    const se = a.reduce((s, v) => s + Math.exp(v - mx), 0);
    loss += mx + Math.log(se) - a[y[e]];
    let d: Float64Array = a.map((v, j) => Math.exp(v - mx) / se - (j === y[e] ? 1 : 0));
    for (let i = net.layers.length - 1; i >= 0; i--) {
      d = layerBackward(net.layers[i], caches[i], d, sl[i].k >= 0 ? params[sl[i].k] : null, sl[i].k >= 0 ? grads[sl[i].k] : null, sl[i].b >= 0 ? grads[sl[i].b] : null);
    }
  }
  return { loss, grads };
}

/** Σ cross-entropy only (for finite differences). */
export function loss64(net: Network, params: Params, x: ArrayLike<number>, y: ArrayLike<number>, n: number): number {
  const size = x.length / n;
  let loss = 0;
  for (let e = 0; e < n; e++) {
    const a = logits64(net, params, Array.prototype.slice.call(x, e * size, (e + 1) * size) as number[]);
    const mx = Math.max(...a);
    loss += mx + Math.log(a.reduce((s, v) => s + Math.exp(v - mx), 0)) - a[y[e]];
  }
  return loss;
}
