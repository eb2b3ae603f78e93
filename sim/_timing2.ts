import { SequentialEvaluator } from '../src/verdict/sequential-evaluator.js';
import { PointEstimateEvaluator } from '../src/verdict/point-estimate-evaluator.js';
import { simulate } from './simulate.js';
import { nullBoundary } from './scenarios.js';
for (const ev of [() => new SequentialEvaluator(), () => new PointEstimateEvaluator()]) {
const t0 = performance.now();
const recs = simulate(nullBoundary, { runs: 100, seed: 2, evaluator: ev });
console.log((performance.now()-t0).toFixed(0), 'ms', recs.filter(r=>r.fail!==null).length);
}
