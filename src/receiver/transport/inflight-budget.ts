// The receiver's memory bound: request bytes held between arrival and the sink's ack, shared by
// the gRPC and HTTP listeners. A request that does not fit is refused with a retryable status
// instead of queueing, so a slow or absent Kafka turns into exporter retries, never into heap
// growth (the Collector's memory_limiter idea, counted in bytes rather than sampled).

export interface Lease {
  /** Bytes this lease holds now. */
  readonly bytes: number;
  /** Takes n more bytes for this lease; false (and nothing taken) when the budget is spent. */
  grow(n: number): boolean;
  /** Gives every byte back; idempotent. */
  release(): void;
}

export class InFlightBudget {
  private used = 0;
  private highWater = 0;
  private refusals = 0;

  constructor(readonly maxBytes: number) {
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

  /** A lease of `bytes` (may be 0 and grow later), or undefined when it does not fit. */
  tryAcquire(bytes: number): Lease | undefined {
    if (!this.take(bytes)) return undefined;
    let held = bytes;
    let released = false;
    return {
      get bytes() {
        return released ? 0 : held;
      },
      grow: (n: number) => {
        if (released || !this.take(n)) return false;
        held += n;
        return true;
      },
      release: () => {
        if (released) return;
        released = true;
        this.used -= held;
      },
    };
  }

  private take(n: number): boolean {
    if (this.used + n > this.maxBytes) {
      this.refusals++;
      return false;
    }
    this.used += n;
    if (this.used > this.highWater) this.highWater = this.used;
    return true;
  }
}
