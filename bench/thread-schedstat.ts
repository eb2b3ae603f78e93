// The main thread's scheduler counters (Linux /proc schedstat): ns it ran on a CPU and ns it was
// runnable but waiting for one. On a machine shared with other work, an event-loop stall is partly
// time the thread was not running at all; these split a gap into on a CPU, waiting for a CPU, and
// the rest (blocked: in the kernel, or waiting for GC helper threads). NaN where not available.

import { readFileSync } from 'node:fs';

const SCHEDSTAT = `/proc/self/task/${process.pid}/schedstat`;

export function schedstat(): { runNs: number; waitNs: number } {
  try {
    const [run, wait] = readFileSync(SCHEDSTAT, 'utf8').split(' ').map(Number);
    return { runNs: run, waitNs: wait };
  } catch {
    return { runNs: Number.NaN, waitNs: Number.NaN };
  }
}
