import { SequentialEvaluator } from '../src/verdict/sequential-evaluator.js';
import { simulate } from '../sim/simulate.js';
import { nullBoundary, latencySpike, activationDrop } from '../sim/scenarios.js';
for (const s of [nullBoundary, latencySpike, activationDrop]) {
const t0 = performance.now();
const recs = simulate(s, { runs: 20, seed: 1, evaluator: () => new SequentialEvaluator() });
console.log(s.name, (performance.now()-t0).toFixed(0), 'ms', JSON.stringify(recs.slice(0,5)));
}
