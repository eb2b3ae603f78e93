// Seeded data generators for the aggregation tests: fast-check draws the seed, so a failure
// reproduces from the printed counterexample.

import { mulberry32, normal } from '../../helpers/prng.js';

export { mulberry32, normal };

export type DataShape = 'lognormal' | 'ties' | 'single' | 'uniform' | 'wide';

/** Integer latencies in [0, max]. */
export function latencies(shape: DataShape, n: number, seed: number, max: number): number[] {
  const rand = mulberry32(seed);
  const out: number[] = new Array(n);
  const ties = [1, 7, 128, 129, 450, 451, 1000];
  const single = 1 + Math.floor(rand() * Math.min(max, 5000));
  for (let i = 0; i < n; i++) {
    let v: number;
    switch (shape) {
      case 'lognormal':
        v = Math.ceil(Math.exp(Math.log(120) + 0.9 * normal(rand)));
        break;
      case 'ties':
        v = ties[Math.floor(rand() * ties.length)];
        break;
      case 'single':
        v = single;
        break;
      case 'uniform':
        v = Math.floor(rand() * 3000);
        break;
      case 'wide':
        v = Math.floor(Math.exp(rand() * Math.log(max + 1))) - 1;
        break;
    }
    out[i] = Math.min(Math.max(v, 0), max);
  }
  return out;
}
