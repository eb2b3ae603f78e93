// A long synchronous job (a checkpoint decode at 10 M pairs lasts seconds) written once as a
// generator that yields where it may be cut, then run either at once (tests, whole-state reads) or
// in slices that give the event loop back, so a consumer-group member keeps heartbeating while it
// restores (stream/stateful-runner.ts). Both runs execute the same steps in the same order: the
// result cannot differ.

/** A job that yields (no value) at each point where it may pause, and returns its result. */
export type Steps<T> = Generator<void, T, void>;

/** Runs every step without pausing. */
export function runSteps<T>(steps: Steps<T>): T {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/**
 * Runs the steps, awaiting `pause` at the first yield after `sliceMs` of work. A rejected pause
 * ends the job with that error (the generator is closed: its partial result is dropped).
 */
export async function runStepsSliced<T>(steps: Steps<T>, sliceMs: number, pause: () => Promise<void>): Promise<T> {
  let sliceEnds = performance.now() + sliceMs;
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
    if (performance.now() < sliceEnds) continue;
    try {
      await pause();
    } catch (err) {
      steps.return(undefined as T);
      throw err;
    }
    sliceEnds = performance.now() + sliceMs;
  }
}
