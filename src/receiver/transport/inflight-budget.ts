// The receiver's memory bound: request bytes held between arrival and the sink's ack, shared by
// the gRPC and HTTP listeners. A request that does not fit is refused with a retryable status
// instead of queueing without bound, so a slow or absent Kafka turns into exporter retries, never
// into heap growth (the Collector's memory_limiter idea, counted in bytes rather than sampled).
// gRPC calls reserve their largest possible message before grpc-js reads it (acquire(), which may
// wait a bounded time in a bounded FIFO queue), so bytes grpc-js buffers are inside the bound too;
// HTTP bodies wait in the same queue for each chunk (growOrWait), so neither listener starves the other.

import { systemClock, type Clock } from '../../core/clock.js';

export interface Lease {
  /** Bytes this lease holds from the budget now. */
  readonly bytes: number;
  /** Bytes of the lease in use (at most `bytes`; less while part of a reservation is unused). */
  readonly used: number;
  /**
   * Uses n more bytes: first from the lease's unused reservation, then from the budget; false
   * (and nothing taken) when the budget is spent.
   */
  grow(n: number): boolean;
  /**
   * Like grow, but when the budget is spent, queues behind the other waiters (FIFO, with gRPC
   * admissions) for up to waitMs; false when the wait ends first or the lease was released.
   */
  growOrWait(n: number, waitMs: number): Promise<boolean>;
  /** Gives back the reserved bytes not in use (a reservation turning into the real size). */
  trim(): void;
  /** Gives every byte back; idempotent. */
  release(): void;
}

interface Waiter {
  bytes: number;
  /** Called once the bytes are taken for this waiter. */
  granted(): void;
}

/** Waiters for acquire() beyond this many are refused at once: waiting costs little, but not nothing. */
const MAX_WAITERS = 1024;

export class InFlightBudget {
  private used = 0;
  private highWater = 0;
  private refusals = 0;
  private readonly waiters: Waiter[] = [];

  constructor(readonly maxBytes: number, private readonly clock: Clock = systemClock) {
    if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) throw new RangeError(`in-flight budget must be a positive integer, got ${maxBytes}`);
  }

  get inUse(): number {
    return this.used;
  }

  /** The most bytes ever held at once. */
  get peak(): number {
    return this.highWater;
  }

  /** Requests (or request chunks) refused because the budget was spent. */
  get refused(): number {
    return this.refusals;
  }

  /** Callers of acquire() waiting for bytes now. */
  get waiting(): number {
    return this.waiters.length;
  }

  /** A lease of `bytes` (may be 0 and grow later), or undefined when it does not fit. */
  tryAcquire(bytes: number): Lease | undefined {
    // Waiters come first: a stream of small requests must not starve a queued large one.
    if (this.waiters.length > 0 && bytes > 0) {
      this.refusals++;
      return undefined;
    }
    if (!this.take(bytes)) return undefined;
    return this.lease(bytes, bytes);
  }

  /**
   * A lease of `bytes`, waiting in FIFO order up to `waitMs` for other leases to give bytes back;
   * undefined (counted as a refusal) when the wait ends first or too many are waiting already.
   */
  acquire(bytes: number, waitMs: number): Promise<Lease | undefined> {
    return this.wait(bytes, waitMs).then((taken) => (taken ? this.lease(bytes, 0) : undefined));
  }

  /** Takes `bytes` now or after waiting in FIFO order; false (a refusal) when that cannot be. */
  private wait(bytes: number, waitMs: number): Promise<boolean> {
    if (this.waiters.length === 0 && this.take(bytes, false)) return Promise.resolve(true);
    if (bytes > this.maxBytes || waitMs <= 0 || this.waiters.length >= MAX_WAITERS) {
      this.refusals++;
      return Promise.resolve(false);
    }
    return new Promise((resolve) => {
      const waiter: Waiter = {
        bytes,
        granted: () => {
          timer.cancel();
          resolve(true);
        },
      };
      const timer = this.clock.setTimeout(() => {
        const i = this.waiters.indexOf(waiter);
        if (i < 0) return;
        this.waiters.splice(i, 1);
        this.refusals++;
        resolve(false);
        // The head may have been the one that did not fit; those behind it may.
        this.wake();
      }, waitMs);
      this.waiters.push(waiter);
    });
  }

  /** A lease holding `bytes` of which `used` are in use (the rest is a reservation). */
  private lease(bytes: number, used: number): Lease {
    let held = bytes;
    let inUse = used;
    let released = false;
    return {
      get bytes() {
        return released ? 0 : held;
      },
      get used() {
        return released ? 0 : inUse;
      },
      grow: (n: number) => {
        if (released) return false;
        const more = inUse + n - held;
        if (more > 0) {
          if (!this.take(more)) return false;
          held += more;
        }
        inUse += n;
        return true;
      },
      growOrWait: async (n: number, waitMs: number) => {
        if (released) return false;
        const more = inUse + n - held;
        if (more <= 0 || (this.waiters.length === 0 && this.take(more, false))) {
          held += Math.max(0, more);
          inUse += n;
          return true;
        }
        if (!(await this.wait(more, waitMs))) return false;
        if (released) {
          this.give(more);
          return false;
        }
        held += more;
        inUse += n;
        return true;
      },
      trim: () => {
        if (released || inUse >= held) return;
        this.give(held - inUse);
        held = inUse;
      },
      release: () => {
        if (released) return;
        released = true;
        this.give(held);
      },
    };
  }

  private give(n: number): void {
    this.used -= n;
    this.wake();
  }

  /** Hands freed bytes to waiters in arrival order, stopping at the first that does not fit. */
  private wake(): void {
    while (this.waiters.length > 0) {
      const head = this.waiters[0];
      if (!this.take(head.bytes, false)) return;
      this.waiters.shift();
      head.granted();
    }
  }

  private take(n: number, countRefusal = true): boolean {
    if (this.used + n > this.maxBytes) {
      if (countRefusal) this.refusals++;
      return false;
    }
    this.used += n;
    if (this.used > this.highWater) this.highWater = this.used;
    return true;
  }
}
