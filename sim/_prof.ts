import { SequentialEvaluator } from '../src/verdict/sequential-evaluator.js';
import { simulate } from './simulate.js';
import { nullBoundary } from './scenarios.js';
simulate(nullBoundary, { runs: 60, seed: 1, evaluator: () => new SequentialEvaluator() });
