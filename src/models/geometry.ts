/** Output size and padding (before, after) TF.js/TensorFlow uses along one spatial axis for 'same' and 'valid'. */
export function convPadding(inSize: number, k: number, stride: number, padding: 'same' | 'valid'): { out: number; before: number; after: number } {
  if (padding === 'valid') {
    const out = Math.floor((inSize - k) / stride) + 1;
    return { out, before: 0, after: 0 };
  }
  const out = Math.ceil(inSize / stride);
  const total = Math.max((out - 1) * stride + k - inSize, 0);
  const before = Math.floor(total / 2);
  return { out, before, after: total - before };
}
