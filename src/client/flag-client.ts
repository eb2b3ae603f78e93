// The application side of pmf-guard's flags: reads a feature's cohort states from Redis (the
// key contract of src/flags/redis-keys.ts), follows the change notices, and keeps
// serving the last state it saw when Redis is unreachable. It only ever moves a feature to a
// newer version, so an application never sees a flag go back in time either. Each evaluation is
// recorded on the active OpenTelemetry span with the feature_flag.* attributes pmf-guard reads,
// which closes the loop: the flag the application served is what pmf-guard measures.

import { Cluster, Redis } from 'ioredis';
import { systemClock, type Clock } from '../core/clock.js';
import { silentLogger, type Logger } from '../core/logger.js';
import { flagChannel, flagKey } from '../flags/redis-keys.js';
import { bucketOf, inAllocation, parseFlagHash, type CohortAllocation } from './allocation.js';
import { recordEvaluation, type RecordOptions } from './evaluation-recorder.js';

export type FlagReason = 'TARGETING_MATCH' | 'SPLIT' | 'STALE' | 'DEFAULT' | 'ERROR';

export interface FlagContext {
  /** The cohort (variant) your application assigned this user to, e.g. "treatment". */
  cohort: string;
  /** The user's id; recorded as feature_flag.context.id so pmf-guard can follow the user. */
  userId?: string;
}

/** Present when the asked-for cohort is in a rollout: whether this user is inside its allocation. */
export interface AllocationDecision {
  /** The cohort the application asked for (the evaluation's cohort is the control when excluded). */
  cohort: string;
  percent: number;
  /** The user's bucket in [0, 10000); absent without a user id (then never included). */
  bucket?: number;
  included: boolean;
}

export interface FlagEvaluation {
  feature: string;
  /** The cohort the user is served and recorded as: the asked-for one, or the control outside a rollout's allocation. */
  cohort: string;
  enabled: boolean;
  /** Version of the feature the answer came from; 0 when the feature is unknown. */
  version: number;
  /**
   * TARGETING_MATCH: the cohort's current state. STALE: the last known state, Redis is unreachable.
   * SPLIT: the user is outside the cohort's rollout allocation and is served the control (flag off).
   * DEFAULT: pmf-guard has no flag for this feature or cohort. ERROR: never loaded, Redis unreachable.
   */
  reason: FlagReason;
  allocation?: AllocationDecision;
}

export interface FlagClientOptions {
  /** A redis:// URL, or an ioredis Redis / Cluster client you own (the flag client never closes it). */
  redis: string | Redis | Cluster;
  /** Prepended to key and channel names; leave empty outside tests. */
  keyPrefix?: string;
  /** Features to load at start(), so their first evaluation does not wait for Redis. */
  features?: readonly string[];
  /** Answer for an unknown feature or cohort when the call gives none (default false). */
  defaultValue?: boolean;
  /** Re-read every known feature this often, in case a notice was lost (default 30 s; 0 = never). */
  refreshIntervalMs?: number;
  /** Record evaluations on the active span (default: as a feature_flag.evaluation span event). */
  record?: RecordOptions | false;
  clock?: Clock;
  /** Where the client reports what it does not throw (default: silent; pass your application's logger). */
  logger?: Logger;
  /** Called once per outage, with the failure that began it (default: one warning on the logger). */
  onError?: (err: unknown) => void;
}

interface KnownFeature {
  version: number;
  cohorts: Record<string, string>;
  allocations: Record<string, CohortAllocation>;
}


export class FlagClient {
  private readonly redis: Redis | Cluster;
  private readonly ownsRedis: boolean;
  private subscriber: Redis | Cluster | undefined;
  private readonly keyPrefix: string;
  private readonly defaultValue: boolean;
  private readonly refreshIntervalMs: number;
  private readonly record: RecordOptions | false;
  private readonly clock: Clock;
  private readonly onError: (err: unknown) => void;
  private readonly known = new Map<string, KnownFeature>();
  /** Features asked for (known or not): reloaded on notices, reconnects and refreshes. */
  private readonly tracked = new Set<string>();
  private readonly loading = new Map<string, Promise<void>>();
  /** The read queued behind the one in flight, per feature (see load). */
  private readonly rereading = new Map<string, Promise<void>>();
  private readonly listeners = new Set<(feature: string, version: number) => void>();
  private timer: { cancel(): void } | undefined;
  private started = false;
  private stopped = false;
  /** False from a failed Redis call until the next successful one. */
  private reachable = true;

  constructor(options: FlagClientOptions) {
    this.ownsRedis = typeof options.redis === 'string';
    // Commands wait for the connection briefly, then fail, and the last known state is served.
    this.redis = typeof options.redis === 'string' ? new Redis(options.redis, { maxRetriesPerRequest: 1, connectTimeout: 2_000 }) : options.redis;
    this.keyPrefix = options.keyPrefix ?? '';
    this.defaultValue = options.defaultValue ?? false;
    this.refreshIntervalMs = options.refreshIntervalMs ?? 30_000;
    this.record = options.record ?? {};
    this.clock = options.clock ?? systemClock;
    const logger = options.logger ?? silentLogger;
    this.onError = options.onError ?? ((err) => logger.warn('Redis unavailable, serving the last known flags', { err }));
    for (const f of options.features ?? []) this.tracked.add(f);
    if (this.ownsRedis) this.redis.on('error', () => {}); // failures surface through the calls that hit them
  }

  /** Subscribes to change notices and loads the configured features. Never fails for an unreachable Redis. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const sub = this.redis.duplicate();
    this.subscriber = sub;
    sub.on('error', (err: unknown) => this.failed(err));
    sub.on('message', (channel: string, feature: string) => {
      if (channel === this.channel && this.tracked.has(feature)) void this.load(feature);
    });
    // Notices sent while disconnected are lost: re-read everything once the subscription is back.
    sub.on('ready', () => {
      if (this.started && !this.stopped) void this.refreshAll();
    });
    try {
      await sub.subscribe(this.channel);
    } catch (err) {
      this.failed(err); // ioredis subscribes again when it reconnects
    }
    await this.refreshAll();
    this.schedule();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.timer?.cancel();
    this.subscriber?.disconnect();
    await Promise.all([...this.loading.values(), ...this.rereading.values()]);
    if (this.ownsRedis) this.redis.disconnect();
  }

  get channel(): string {
    return flagChannel(this.keyPrefix);
  }

  key(feature: string): string {
    return flagKey(feature, this.keyPrefix);
  }

  /** Calls listener with (feature, version) whenever a tracked feature moves to a newer version. */
  onChange(listener: (feature: string, version: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Whether the cohort's flag is on; records the evaluation on the active span. */
  async isEnabled(feature: string, context: FlagContext, defaultValue?: boolean): Promise<boolean> {
    return (await this.evaluate(feature, context, defaultValue)).enabled;
  }

  /** Evaluates a feature for a cohort, loading the feature from Redis on first use. */
  async evaluate(feature: string, context: FlagContext, defaultValue = this.defaultValue): Promise<FlagEvaluation> {
    if (!this.known.has(feature)) {
      this.tracked.add(feature);
      await this.load(feature);
    }
    const evaluation = this.answer(feature, context.cohort, context.userId, defaultValue);
    if (this.record !== false) recordEvaluation(evaluation, context.userId, this.record);
    return evaluation;
  }

  /** The last known state of a feature (no Redis call), or undefined. */
  snapshot(feature: string): { version: number; cohorts: Record<string, string>; allocations?: Record<string, CohortAllocation> } | undefined {
    const k = this.known.get(feature);
    if (!k) return undefined;
    // allocations only when a cohort is in a rollout, so the shape without rollouts is unchanged.
    return Object.keys(k.allocations).length > 0
      ? { version: k.version, cohorts: { ...k.cohorts }, allocations: structuredClone(k.allocations) }
      : { version: k.version, cohorts: { ...k.cohorts } };
  }

  private answer(feature: string, cohort: string, userId: string | undefined, defaultValue: boolean): FlagEvaluation {
    const k = this.known.get(feature);
    const state = k?.cohorts[cohort];
    if (state === 'on' || state === 'off') {
      const reason: FlagReason = this.reachable ? 'TARGETING_MATCH' : 'STALE';
      const rollout = k!.allocations[cohort];
      if (!rollout) return { feature, cohort, enabled: state === 'on', version: k!.version, reason };
      // Without a user id there is nothing sticky to bucket on: such calls stay with the control.
      const bucket = userId === undefined || userId === '' ? undefined : bucketOf(feature, rollout.salt, userId);
      const included = bucket !== undefined && inAllocation(bucket, rollout.percent);
      const allocation: AllocationDecision = { cohort, percent: rollout.percent, included };
      if (bucket !== undefined) allocation.bucket = bucket;
      if (included) return { feature, cohort, enabled: state === 'on', version: k!.version, reason, allocation };
      return { feature, cohort: rollout.control, enabled: false, version: k!.version, reason: this.reachable ? 'SPLIT' : 'STALE', allocation };
    }
    const reason: FlagReason = k || this.reachable ? 'DEFAULT' : 'ERROR';
    return { feature, cohort, enabled: defaultValue, version: k?.version ?? 0, reason };
  }

  /**
   * Reads one feature. A call while a read is in flight cannot join it: that read may have left
   * before the change the call announces, so one more read follows it (calls meanwhile share that
   * one), and the returned promise settles after a read that began after the call.
   */
  private load(feature: string): Promise<void> {
    const inFlight = this.loading.get(feature);
    if (inFlight) {
      let next = this.rereading.get(feature);
      if (!next) {
        next = inFlight.then(() => {
          this.rereading.delete(feature);
          return this.load(feature);
        });
        this.rereading.set(feature, next);
      }
      return next;
    }
    const run = this.read(feature).finally(() => this.loading.delete(feature));
    this.loading.set(feature, run);
    return run;
  }

  private async read(feature: string): Promise<void> {
    let hash: Record<string, string>;
    try {
      hash = await this.redis.hgetall(this.key(feature));
    } catch (err) {
      this.failed(err);
      return;
    }
    this.reachable = true;
    const version = Number(hash.version);
    // An empty hash after a Redis restart is not news: pmf-guard's reconcile rewrites it, and
    // until then the last known state is the truth the application should keep serving.
    if (!Number.isSafeInteger(version) || version < 1) return;
    const current = this.known.get(feature);
    if (current && current.version >= version) return;
    const { cohorts, allocations } = parseFlagHash(hash);
    this.known.set(feature, { version, cohorts, allocations });
    for (const listener of this.listeners) listener(feature, version);
  }

  private async refreshAll(): Promise<void> {
    await Promise.all([...this.tracked].map((f) => this.load(f)));
  }

  private schedule(): void {
    if (this.refreshIntervalMs <= 0 || this.stopped) return;
    this.timer = this.clock.setTimeout(() => {
      void this.refreshAll().finally(() => this.schedule());
    }, this.refreshIntervalMs);
  }

  private failed(err: unknown): void {
    const wasReachable = this.reachable;
    this.reachable = false;
    if (wasReachable) this.onError(err);
  }
}
