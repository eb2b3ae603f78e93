// Core pinning for `npm run bench:receiver`: the receiver alone on its core, the load generator and
// the Kafka broker on the other, so the receiver's spans/s on one core are not capped by a broker
// taking turns on the same core. The broker's affinity is put back as it was when the bench ends
// (the broker is shared with everything else on the machine).
//
// The broker is found as scripts/stack.sh keeps it: PMF_BENCH_KAFKA_PID, else the pid file
// PMF_BENCH_KAFKA_PIDFILE, else .stack/kafka/kafka.pid (port 9092) or .stack/kafka-<port>/kafka.pid
// under PMF_BENCH_STACK_ROOT (default: this checkout). A pid whose command line is not a Kafka
// broker (a stale pid file) is not touched.

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';

const TASKSET = '/usr/bin/taskset';

export function canPin(): boolean {
  return existsSync(TASKSET) && cpus().length >= 2;
}

/** Pins every thread of `pid` to `core`; false when it cannot. */
export function pinAllThreads(pid: number, core: number): boolean {
  try {
    execFileSync(TASKSET, ['-a', '-p', '-c', String(core), String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** The cores `pid` may run on, as taskset's list (e.g. "0,1"), or null. */
function affinityOf(pid: number): string | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return /^Cpus_allowed_list:\s*(\S+)/m.exec(status)?.[1] ?? null;
  } catch {
    return null;
  }
}

/** user+system CPU-seconds of `pid` so far (all threads), or NaN. */
export function processCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 (utime, stime) of proc(5), counted from after the command name.
    return (Number(f[11]) + Number(f[12])) / clockTicks();
  } catch {
    return Number.NaN;
  }
}

let ticks: number | undefined;
function clockTicks(): number {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}

/** The local broker's pid by stack.sh's conventions, or null (with why). */
export function findBrokerPid(brokers: string): { pid: number | null; source: string } {
  const fromEnv = process.env.PMF_BENCH_KAFKA_PID;
  let source: string;
  let text: string | undefined;
  if (fromEnv) {
    source = 'PMF_BENCH_KAFKA_PID';
    text = fromEnv;
  } else {
    const port = Number(brokers.split(',')[0].split(':')[1] ?? 9092);
    const root = process.env.PMF_BENCH_STACK_ROOT ?? process.cwd();
    source = process.env.PMF_BENCH_KAFKA_PIDFILE ?? join(root, '.stack', port === 9092 ? 'kafka' : `kafka-${port}`, 'kafka.pid');
    try {
      text = readFileSync(source, 'utf8');
    } catch {
      return { pid: null, source: `${source} not found (set PMF_BENCH_KAFKA_PID or PMF_BENCH_STACK_ROOT)` };
    }
  }
  const pid = Number(text.trim());
  if (!Number.isInteger(pid) || pid <= 0) return { pid: null, source: `${source}: not a pid` };
  try {
    if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('kafka.Kafka')) return { pid: null, source: `${source}: pid ${pid} is not a Kafka broker` };
  } catch {
    return { pid: null, source: `${source}: pid ${pid} is not running` };
  }
  return { pid, source };
}

/** The broker pinned to `core` until restore(), which puts its former affinity back on every thread. */
export class BrokerPin {
  private constructor(readonly pid: number, readonly core: number, private readonly before: string) {}

  static pin(pid: number, core: number): BrokerPin | null {
    const before = affinityOf(pid);
    if (before === null || !pinAllThreads(pid, core)) return null;
    const pin = new BrokerPin(pid, core, before);
    process.once('exit', () => pin.restore());
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        pin.restore();
        process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
      });
    }
    return pin;
  }

  private restored = false;

  restore(): void {
    if (this.restored) return;
    this.restored = true;
    try {
      execFileSync(TASKSET, ['-a', '-p', '-c', this.before, String(this.pid)], { stdio: 'ignore' });
    } catch {
      // The broker may have stopped meanwhile; nothing left to restore then.
    }
  }
}
