/**
 * Dense and convolution ops with custom gradients.
 *
 * Why: on the wasm backend a matMul with transposeA/transposeB is ~14x slower than a plain one, and
 * Conv2DBackpropFilter is not registered at all. So every gradient here is built from explicit
 * transposes, plain matMul and forward conv2d only.
 *
 *   dense:  y = x K            dx = dy (Kᵀ)             dK = (xᵀ) dy
 *   conv2d: y = x ⋆ K          dx = dilate/pad(dy) ⋆ flip(K)ᵀ   (a forward conv)
 *                              dK = xᵀ ⋆ dy  (stride 1: one forward conv with the batch contracted;
 *                                             strides: one plain matMul per kernel offset)
 */
import * as tf from '@tensorflow/tfjs';

/** x·K (or relu(x·K) in one fused product) with the gradient built from plain products. */
function makeDense(inputGradient: boolean, relu: boolean): (x: tf.Tensor2D, kernel: tf.Tensor2D) => tf.Tensor2D {
  return tf.customGrad(((x: tf.Tensor, kernel: tf.Tensor, save: tf.GradSaveFunc) => {
    const x2 = x as tf.Tensor2D;
    const k2 = kernel as tf.Tensor2D;
    const y = relu ? tf.fused.matMul({ a: x2, b: k2, activation: 'relu' }) : tf.matMul(x2, k2);
    save(relu ? [x2, k2, y] : [x2, k2]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ks, ys] = saved as tf.Tensor2D[];
        // ReLU'(z) = 1 where the output is positive
        const dz = (relu ? tf.mul(dy, tf.step(ys)) : dy) as tf.Tensor2D;
        const dx = inputGradient ? tf.matMul(dz, tf.transpose(ks)) : tf.zerosLike(xs);
        const dk = tf.matMul(tf.transpose(xs), dz);
        return [dx, dk];
      },
    };
  }) as any) as unknown as (x: tf.Tensor2D, kernel: tf.Tensor2D) => tf.Tensor2D;
}

const DENSE = { plain: [makeDense(false, false), makeDense(true, false)], relu: [makeDense(false, true), makeDense(true, true)] };

/**
 * y = x·K for x [B, in] and K [in, out] (the TF.js Dense kernel layout).
 * With inputGradient = false the gradient with respect to x is NOT computed (zeros are returned):
 * use it only where x is data, never an activation (it saves one matrix product per step).
 */
export function dense(x: tf.Tensor2D, kernel: tf.Tensor2D, inputGradient = true): tf.Tensor2D {
  return DENSE.plain[inputGradient ? 1 : 0](x, kernel);
}

/** relu(x·K) in one fused product, with the same custom gradient as dense (see there for inputGradient). */
export function denseRelu(x: tf.Tensor2D, kernel: tf.Tensor2D, inputGradient = true): tf.Tensor2D {
  return DENSE.relu[inputGradient ? 1 : 0](x, kernel);
}

export type Padding = 'same' | 'valid';

/** Padding TF.js/TensorFlow applies for 'same' and 'valid' along one spatial axis. */
export function convPadding(inSize: number, k: number, stride: number, padding: Padding): { out: number; before: number; after: number } {
  if (padding === 'valid') {
    const out = Math.floor((inSize - k) / stride) + 1;
    return { out, before: 0, after: 0 };
  }
  const out = Math.ceil(inSize / stride);
  const total = Math.max((out - 1) * stride + k - inSize, 0);
  const before = Math.floor(total / 2);
  return { out, before, after: total - before };
}

interface ConvGeometry {
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  ph: { out: number; before: number; after: number };
  pw: { out: number; before: number; after: number };
}

function geometry(xShape: number[], kShape: number[], strides: [number, number], padding: Padding): ConvGeometry {
  const [, h, w] = xShape;
  const [kh, kw] = kShape;
  const [sh, sw] = strides;
  return { kh, kw, sh, sw, ph: convPadding(h, kh, sh, padding), pw: convPadding(w, kw, sw, padding) };
}

/** Explicitly padded input, so the conv becomes a 'valid' one. */
function padInput(x: tf.Tensor4D, g: ConvGeometry): tf.Tensor4D {
  if (g.ph.before + g.ph.after + g.pw.before + g.pw.after === 0) return x;
  return tf.pad(x, [
    [0, 0],
    [g.ph.before, g.ph.after],
    [g.pw.before, g.pw.after],
    [0, 0],
  ]);
}

/**
 * Kernel gradient: dK[i,j,c,o] = Σ_{b,y,x} xp[b, y·sh+i, x·sw+j, c] · dy[b,y,x,o].
 * With stride 1 this is itself a 'valid' correlation, with the batch as the contracted channel: the input
 * xp as [cin, Hp, Wp, B], the "filter" dy as [Ho, Wo, B, cout], the output [cin, kh, kw, cout] — one
 * forward conv2d. With strides, dyᵀ [cout, B·Ho·Wo] times each strided window of xp, one plain matMul per
 * kernel offset. No im2col matrix (kh·kw times the input) is built in either case.
 */
function convKernelGrad(x: tf.Tensor4D, dy: tf.Tensor4D, kShape: number[], g: ConvGeometry): tf.Tensor4D {
  const [b, , , cin] = x.shape;
  const [, ho, wo, cout] = dy.shape;
  const xp = padInput(x, g);
  if (g.sh === 1 && g.sw === 1) {
    const input = tf.transpose(xp, [3, 1, 2, 0]) as tf.Tensor4D; // [cin, Hp, Wp, B]
    const filter = tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D; // [Ho, Wo, B, cout]
    let out = tf.conv2d(input, filter, 1, 'valid'); // [cin, Hp-Ho+1, Wp-Wo+1, cout]
    if (out.shape[1] !== g.kh || out.shape[2] !== g.kw) out = tf.slice(out, [0, 0, 0, 0], [cin, g.kh, g.kw, cout]);
    return tf.transpose(out, [1, 2, 0, 3]) as tf.Tensor4D;
  }
  const rows = b * ho * wo;
  const dyT = tf.transpose(dy.reshape([rows, cout]) as tf.Tensor2D);
  const parts: tf.Tensor2D[] = [];
  for (let i = 0; i < g.kh; i++) {
    for (let j = 0; j < g.kw; j++) {
      const window = tf.stridedSlice(xp, [0, i, j, 0], [b, i + (ho - 1) * g.sh + 1, j + (wo - 1) * g.sw + 1, cin], [1, g.sh, g.sw, 1]);
      parts.push(tf.matMul(dyT, window.reshape([rows, cin]) as tf.Tensor2D));
    }
  }
  // [kh·kw, cout, cin] → [kh·kw, cin, cout] → [kh, kw, cin, cout]
  const stacked = tf.stack(parts) as tf.Tensor3D;
  return tf.transpose(stacked, [0, 2, 1]).reshape(kShape as [number, number, number, number]);
}

/** Input gradient: a forward 'valid' conv of the zero-dilated, padded dy with the flipped, transposed kernel. */
function convInputGrad(dy: tf.Tensor4D, kernel: tf.Tensor4D, xShape: number[], g: ConvGeometry): tf.Tensor4D {
  const [b, h, w, cin] = xShape;
  const [, ho, wo, cout] = dy.shape;
  let d: tf.Tensor4D = dy;
  if (g.sh > 1 || g.sw > 1) {
    // insert (s-1) zeros between the rows/columns of dy
    const expanded = d.reshape([b, ho, 1, wo, 1, cout]);
    const padded = tf.pad(expanded, [
      [0, 0],
      [0, 0],
      [0, g.sh - 1],
      [0, 0],
      [0, g.sw - 1],
      [0, 0],
    ]);
    d = (padded.reshape([b, ho * g.sh, wo * g.sw, cout]) as tf.Tensor4D).slice([0, 0, 0, 0], [b, (ho - 1) * g.sh + 1, (wo - 1) * g.sw + 1, cout]);
  }
  // size of the padded input xp; rows of xp beyond the last window get zero gradient
  const hp = h + g.ph.before + g.ph.after;
  const wp = w + g.pw.before + g.pw.after;
  const dh = d.shape[1];
  const dw = d.shape[2];
  const full = tf.pad(d, [
    [0, 0],
    [g.kh - 1, g.kh - 1 + (hp - (dh + g.kh - 1))],
    [g.kw - 1, g.kw - 1 + (wp - (dw + g.kw - 1))],
    [0, 0],
  ]);
  const flipped = tf.transpose(tf.reverse(kernel, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D;
  const dxp = tf.conv2d(full as tf.Tensor4D, flipped, 1, 'valid');
  if (hp === h && wp === w) return dxp as tf.Tensor4D;
  return dxp.slice([0, g.ph.before, g.pw.before, 0], [b, h, w, cin]);
}

const conv2dCache = new Map<string, (x: tf.Tensor4D, kernel: tf.Tensor4D) => tf.Tensor4D>();

/**
 * 2-D convolution, NHWC input [B,H,W,Cin], kernel [kh,kw,Cin,Cout] (TF.js layout), with a custom
 * gradient. Same numbers as tf.conv2d(x, kernel, strides, padding). With inputGradient = false the
 * gradient with respect to x is not computed (zeros): only for x that is data.
 */
export function conv2d(
  x: tf.Tensor4D,
  kernel: tf.Tensor4D,
  strides: [number, number] = [1, 1],
  padding: Padding = 'same',
  inputGradient = true,
): tf.Tensor4D {
  const key = `${strides[0]},${strides[1]},${padding},${inputGradient}`;
  let op = conv2dCache.get(key);
  if (!op) {
    op = tf.customGrad(((xi: tf.Tensor, ki: tf.Tensor, save: tf.GradSaveFunc) => {
      const x4 = xi as tf.Tensor4D;
      const k4 = ki as tf.Tensor4D;
      save([x4, k4]);
      return {
        value: tf.conv2d(x4, k4, strides, padding),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [xs, ks] = saved as tf.Tensor4D[];
          const g = geometry(xs.shape, ks.shape, strides, padding);
          const dy4 = dy as tf.Tensor4D;
          const dx = inputGradient ? convInputGrad(dy4, ks, xs.shape, g) : tf.zerosLike(xs);
          return [dx, convKernelGrad(xs, dy4, ks.shape, g)];
        },
      };
    }) as any) as unknown as (x: tf.Tensor4D, kernel: tf.Tensor4D) => tf.Tensor4D;
    conv2dCache.set(key, op);
  }
  return op(x, kernel);
}

/** Nearest-neighbour upsampling of [B, H, W, C] by (fh, fw): every value repeated over an fh×fw block. */
function upsample(t: tf.Tensor4D, fh: number, fw: number): tf.Tensor4D {
  const [, h, w] = t.shape;
  // source index floor(dst · in/out) = floor(dst / f): each value repeated f times (wasm's Tile is slow)
  return tf.image.resizeNearestNeighbor(t, [h * fh, w * fw], false, false);
}

const maxPoolTiled = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
  const x4 = x as tf.Tensor4D;
  const y = tf.maxPool(x4, 2, 2, 'valid');
  save([x4, y]);
  return {
    value: y,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xs, ys] = saved as tf.Tensor4D[];
      // the gradient goes to the window's maximum (to every tied maximum: after a ReLU, ties are zeros,
      // whose gradient the ReLU then stops)
      const mask = tf.cast(tf.equal(xs, upsample(ys, 2, 2)), 'float32');
      return tf.mul(mask, upsample(dy as tf.Tensor4D, 2, 2));
    },
  };
}) as any) as unknown as (x: tf.Tensor4D) => tf.Tensor4D;

/**
 * Max-pooling. The VGG case (2×2 windows, stride 2, 'valid', even height and width) has a gradient built
 * from elementwise ops, ~2× faster than wasm's MaxPoolGrad; other geometries use tf.maxPool as it is.
 */
export function maxPool(x: tf.Tensor4D, poolSize: [number, number], strides: [number, number], padding: Padding): tf.Tensor4D {
  const [, h, w] = x.shape;
  if (poolSize[0] === 2 && poolSize[1] === 2 && strides[0] === 2 && strides[1] === 2 && padding === 'valid' && h % 2 === 0 && w % 2 === 0) {
    return maxPoolTiled(x);
  }
  return tf.maxPool(x, poolSize, strides, padding);
}
