// Per-(user, feature) state of one partition, behind an interface so the Map-based store can be
// replaced by a compact typed-array / open-addressing one (target: ≤ 64 bytes per tracked pair)
// without touching the aggregation rules in partition-aggregator.ts.

/** Bits of UserFeatureState.flags. */
export const ACTIVATED = 1;
export const RETURNED = 2;
/** The activation window matured (counted in the denominator if the rule has an action). */
export const ACTIVATION_DONE = 4;
export const RETENTION_DONE = 8;
/** The user was seen later with another cohort (counted once). */
export const SWITCHED = 16;

export interface UserFeatureState {
  readonly feature: number;
  readonly cohort: number;
  readonly firstExposure: number;
  flags: number;
  /** Latency requests attributed to this user (n_u) and how many of them were slow. */
  requests: number;
  slow: number;
  /** Creation order on this partition: tie-break that makes maturity order layout-independent. */
  readonly seq: number;
}

export interface UserStateStore {
  /** Live states of a user, in creation order; undefined when there are none. */
  statesOf(user: string): readonly UserFeatureState[] | undefined;
  get(user: string, feature: number): UserFeatureState | undefined;
  add(user: string, state: UserFeatureState): void;
  /**
   * Drops the live state and keeps a marker so the user is not exposed again. Returns how many
   * old markers the marker cap made it forget (those users would count as new if they came back).
   */
  retire(user: string, feature: number): number;
  isRetired(user: string, feature: number): boolean;
  readonly liveCount: number;
  readonly retiredCount: number;
  /** Users with live states, in first-insertion order. */
  users(): IterableIterator<[string, readonly UserFeatureState[]]>;
  /** Retired markers in retirement order. */
  retired(): IterableIterator<[user: string, feature: number]>;
  approxBytes(): number;
}

export class MapUserStateStore implements UserStateStore {
  private readonly live = new Map<string, UserFeatureState[]>();
  // Key: feature index, then user. Insertion order is retirement order (FIFO for the cap).
  private readonly retiredMarkers = new Map<string, true>();
  private liveStates = 0;

  constructor(private readonly maxRetired: number) {}

  get liveCount(): number {
    return this.liveStates;
  }

  get retiredCount(): number {
    return this.retiredMarkers.size;
  }

  statesOf(user: string): readonly UserFeatureState[] | undefined {
    return this.live.get(user);
  }

  get(user: string, feature: number): UserFeatureState | undefined {
    const states = this.live.get(user);
    if (states === undefined) return undefined;
    for (const s of states) if (s.feature === feature) return s;
    return undefined;
  }

  add(user: string, state: UserFeatureState): void {
    const states = this.live.get(user);
    if (states === undefined) this.live.set(user, [state]);
    else states.push(state);
    this.liveStates++;
  }

  retire(user: string, feature: number): number {
    const states = this.live.get(user);
    if (states !== undefined) {
      const i = states.findIndex((s) => s.feature === feature);
      if (i >= 0) {
        states.splice(i, 1);
        this.liveStates--;
        if (states.length === 0) this.live.delete(user);
      }
    }
    this.retiredMarkers.set(markerKey(user, feature), true);
    let forgotten = 0;
    while (this.retiredMarkers.size > this.maxRetired) {
      const oldest = this.retiredMarkers.keys().next().value as string;
      this.retiredMarkers.delete(oldest);
      forgotten++;
    }
    return forgotten;
  }

  isRetired(user: string, feature: number): boolean {
    return this.retiredMarkers.size > 0 && this.retiredMarkers.has(markerKey(user, feature));
  }

  users(): IterableIterator<[string, readonly UserFeatureState[]]> {
    return this.live.entries();
  }

  *retired(): IterableIterator<[string, number]> {
    for (const key of this.retiredMarkers.keys()) {
      const sep = key.indexOf(':');
      yield [key.slice(sep + 1), Number(key.slice(0, sep))];
    }
  }

  approxBytes(): number {
    // Rough V8 costs measured by bench/aggregator.bench.ts: map entry + array per user, object
    // (with a boxed firstExposure) per state; marker entry + key string per retired user.
    let bytes = this.live.size * 120 + this.liveStates * 130;
    bytes += this.retiredMarkers.size * 100;
    return bytes;
  }
}

function markerKey(user: string, feature: number): string {
  return `${feature}:${user}`;
}
