/** Hand-made report runs, shaped like the database's, for the report's rendering tests. */
import type { ReportRun } from '../../src/report/figures.js';

function curve(scale: number) {
  return Array.from({ length: 6 }, (_, i) => {
    const alpha = 1e-4 * Math.pow(10, i * 0.6);
    return { alpha, kl: (scale * 1e3) / (alpha * 1e4), expected_sharpness: Math.min(0.9, alpha * 20 * scale) };
  });
}

function run(p: Partial<ReportRun> & { experiment: string; key: string }): ReportRun {
  return {
    data: 'mnist',
    model: 'mlp:512',
    seed: 1,
    size: 1000,
    labels: 'true',
    confusion: 0,
    width: null,
    converged: true,
    epochs: 30,
    trainError: 0,
    testError: 0.1,
    measures: {},
    components: {},
    curve: curve(1),
    ...p,
  };
}

export function sampleRuns(): ReportRun[] {
  const runs: ReportRun[] = [];
  for (const size of [250, 500, 1000, 2000]) {
    for (const labels of ['true', 'random'] as const) {
      const f = labels === 'random' ? size / 100 : 1 + size / 2000;
      runs.push(
        run({
          key: `rl-${size}-${labels}`,
          experiment: 'random-labels',
          size,
          labels,
          testError: labels === 'random' ? 0.9 : 0.2 - size / 20000,
          measures: { l2: 1e4 * f, l1_path: 1e3 * f, l2_path: 1e6 * f, spectral: 1e5 * f, sharpness: 0.01 * f, margin: 2 / f, params: 407040 },
          curve: curve(f),
        }),
      );
    }
  }
  for (const confusion of [0, 250, 500, 1000]) {
    const f = 1 + confusion / 500;
    runs.push(run({ key: `c-${confusion}`, experiment: 'confusion', confusion, testError: 0.1 + confusion / 10000, measures: { l2: 1e4 * f, l1_path: 1e3 * f, l2_path: 1e6 * f, spectral: 1e5 * f, sharpness: 0.01 * f, margin: 2 / f }, curve: curve(f) }));
  }
  for (const width of [8, 32, 128, 512, 2048]) {
    runs.push(
      run({
        key: `w-${width}`,
        experiment: 'width',
        model: `mlp:${width}`,
        width,
        converged: width > 8,
        trainError: width > 8 ? 0 : 0.05,
        testError: 0.2 - Math.log2(width) / 100,
        measures: { l2: 1e4 / Math.sqrt(width) + 100, l1_path: 1e3, l2_path: 1e6 * width, spectral: 1e5 * width, margin: 3, sharpness: 0.02 },
        components: { widths: [width, 10], l2_path_sum: 10 / width, spectral_norms: [2, 3] },
        curve: curve(2 / Math.log2(width)),
      }),
    );
  }
  return runs;
}

/** sampleRuns with every run repeated under seed 2 (test error and measures 10% higher): two seeds per point. */
export function twoSeedRuns(): ReportRun[] {
  const one = sampleRuns();
  const two = one.map((r) => ({
    ...r,
    key: `${r.key}-s2`,
    seed: 2,
    testError: r.testError === null ? null : r.testError * 1.1,
    measures: Object.fromEntries(Object.entries(r.measures).map(([k, v]) => [k, typeof v === 'number' && k !== 'params' ? v * 1.1 : v])),
  }));
  return [...one, ...two];
}
