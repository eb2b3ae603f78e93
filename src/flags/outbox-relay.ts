// Carries committed flag changes from the PostgreSQL outbox to Redis, at least once and in order.
// A row stays pending until Redis has it, so a Redis outage delays notices but never loses them;
// the version-guarded script makes every re-send harmless.

import type { Clock } from '../core/clock.js';
import { errorMessage, isRetryable, PmfError } from '../core/errors.js';
import { FeatureQuarantine, isBadKey, type FailingFeature } from './feature-quarantine.js';
import type { Component } from '../core/lifecycle.js';
import type { Logger } from '../core/logger.js';
import { configDefaults } from '../config/schema.js';
import { retryDelayMs } from '../core/retry-backoff.js';
import type { FlagRepository, OutboxEntry } from './flag-repository.js';
import type { FlagCache } from './flag-cache.js';

export interface OutboxRelayOptions {
  repository: FlagRepository;
  cache: FlagCache;
  clock: Clock;
  // Each option defaults to its field of config flagWriter.outbox (config/schema.ts says what it does).
  batchSize?: number;
  /** Retry delay after a failure: initialMs doubling up to maxMs. */
  retry?: { initialMs?: number; maxMs?: number };
  pollIntervalMs?: number;
  reconcileIntervalMs?: number;
  logger: Logger;
  /** Failures of background runs (and of marking rows published after a partial send) land here (default: the logger). */
  onError?: (err: unknown) => void;
}

export interface OutboxRelayStats {
  /** Outbox rows marked published by this relay. */
  published: number;
  /** Features written to Redis by reconcile(). */
  reconciled: number;
  /** Runs that failed. */
  failures: number;
  /** Features whose Redis copy is ahead of or different from PostgreSQL at the same version (reported, not repaired). */
  diverged: number;
  /** Failures since the last successful run; drives the backoff. */
  consecutiveFailures: number;
  /** Per-feature writes Redis refused for good (WRONGTYPE, a version that is not a number); the others went on. */
  featureFailures: number;
  /** Features currently held apart because of such a refusal. */
  failingFeatures: number;
}

const noop = () => {};

export class OutboxRelay implements Component {
  readonly name = 'outbox-relay';
  private readonly repository: FlagRepository;
  private readonly cache: FlagCache;
  private readonly clock: Clock;
  private readonly batchSize: number;
  private readonly initialRetryMs: number;
  private readonly maxRetryMs: number;
  private readonly pollIntervalMs: number;
  private readonly reconcileIntervalMs: number;
  private lastReconcileAt = Number.NEGATIVE_INFINITY;
  private readonly onError: (err: unknown) => void;

  // Runs are serialised on this chain so rows are sent in id order and never by two runs at once.
  private tail: Promise<unknown> = Promise.resolve();
  private queued: Promise<number> | undefined;
  private timer: { cancel(): void } | undefined;
  private needsReconcile = false;
  private running = false;
  private stopping: Promise<void> | undefined;
  private readonly counters = { published: 0, reconciled: 0, failures: 0, diverged: 0, consecutiveFailures: 0 };
  private readonly quarantine = new FeatureQuarantine();
  // Rows already in Redis by publish(), marked published in one statement per batch: at the next
  // run, when a batch is full, or at stop. Until then a crash only means they are sent again.
  private sent: number[] = [];

  constructor(options: OutboxRelayOptions) {
    this.repository = options.repository;
    this.cache = options.cache;
    this.clock = options.clock;
    const defaults = configDefaults.flagWriter.outbox;
    this.batchSize = options.batchSize ?? defaults.batchSize;
    this.initialRetryMs = options.retry?.initialMs ?? defaults.retryInitialMs;
    this.maxRetryMs = options.retry?.maxMs ?? defaults.retryMaxMs;
    this.pollIntervalMs = options.pollIntervalMs ?? defaults.pollIntervalMs;
    this.reconcileIntervalMs = options.reconcileIntervalMs ?? defaults.reconcileIntervalMs;
    this.onError = options.onError ?? ((err) => options.logger.error('outbox relay run failed', { err }));
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1) {
      throw new PmfError('ERR_CONFIG_INVALID', `outbox relay batchSize must be a positive integer, got ${this.batchSize}`);
    }
    if (!(this.initialRetryMs > 0) || !(this.maxRetryMs >= this.initialRetryMs)) {
      throw new PmfError('ERR_CONFIG_INVALID', 'outbox relay retry needs 0 < initialMs <= maxMs');
    }
  }

  stats(): OutboxRelayStats {
    return { ...this.counters, featureFailures: this.quarantine.failures, failingFeatures: this.quarantine.features().length };
  }

  /** Features whose Redis key refuses writes (for /readyz detail); empty when all flow. */
  failingFeatures(): FailingFeature[] {
    return this.quarantine.list();
  }

  /**
   * Reconciles Redis from PostgreSQL, then sends pending rows. Never throws for an unreachable
   * Redis or PostgreSQL: the run is retried with backoff, so the writer can start during an outage.
   */
  async start(): Promise<void> {
    if (this.stopping) throw new PmfError('ERR_STOPPED', 'outbox relay was stopped; create a new one');
    if (this.running) return;
    this.running = true;
    this.needsReconcile = true;
    await this.relayOnce().catch((err) => this.onError(err));
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.running = false;
      this.timer?.cancel();
      this.timer = undefined;
      await this.tail.then(noop, noop);
      await this.flushSent().catch((err) => this.onError(err));
    })();
    return this.stopping;
  }

  /**
   * Sends every pending outbox row to Redis and marks it published; resolves with the number of
   * rows marked. A call made after a commit always sees that commit's row: calls that arrive
   * while a run is in progress share one follow-up run. On failure the rows stay pending, the
   * error is thrown, and (while started) a retry is scheduled with backoff.
   */
  relayOnce(): Promise<number> {
    if (this.queued) return this.queued;
    const run = this.tail.then(noop, noop).then(async () => {
      this.queued = undefined;
      try {
        if (this.reconcileDue()) this.needsReconcile = true;
        if (this.needsReconcile) {
          await this.reconcileNow();
          this.needsReconcile = false;
        }
        const published = await this.drain();
        this.counters.consecutiveFailures = 0;
        this.schedule(this.pollIntervalMs);
        return published;
      } catch (err) {
        // Redis may have restarted empty while unreachable: only a full reconcile repairs that.
        this.needsReconcile = true;
        this.counters.failures++;
        this.counters.consecutiveFailures++;
        this.schedule(this.retryDelayMs());
        throw err;
      }
    });
    this.queued = run;
    this.tail = run;
    return run;
  }

  /**
   * Sends one just-committed outbox row straight to Redis: one script call, no outbox read, its
   * marking batched. Safe beside a run: the script only moves a feature's version forward, so
   * whichever of the two writes lands second changes nothing. When a reconcile is due, the
   * feature is held apart, or Redis fails, it falls back to relayOnce(), which owns retries,
   * isolation and reconcile, so the outcome is what relayOnce() alone would give.
   */
  async publish(entry: OutboxEntry): Promise<void> {
    if (this.stopping || this.needsReconcile || this.reconcileDue() || this.quarantine.has(entry.feature)) {
      await this.relayOnce();
      return;
    }
    const p = entry.payload;
    try {
      await this.cache.writeFeature(p.feature, p.version, p.cohorts, p.allocations);
    } catch {
      // relayOnce() sends the row again and classifies the failure (isolate, or throw and retry).
      await this.relayOnce();
      return;
    }
    this.sent.push(entry.id);
    if (this.sent.length >= this.batchSize) {
      const run = this.tail.then(noop, noop).then(() => this.flushSent());
      this.tail = run;
      run.catch((err) => this.onError(err));
    }
  }

  /** Writes every feature's current snapshot from PostgreSQL to Redis; returns how many were newer there. */
  reconcile(): Promise<number> {
    const run = this.tail.then(noop, noop).then(() => this.reconcileNow());
    this.tail = run;
    return run;
  }

  private async reconcileNow(): Promise<number> {
    const startedAt = this.clock.now();
    let written = 0;
    for (const s of await this.repository.allFeatureSnapshots()) {
      try {
        if (await this.cache.writeFeature(s.feature, s.version, s.cohorts, s.allocations)) written++;
        else await this.checkDivergence(s.feature);
        // Also the retry of a quarantined feature: once its key is fixed, its pending rows drain.
        this.quarantine.release(s.feature);
      } catch (err) {
        // Redis itself is unavailable or busy (a moving slot): the whole run is retried.
        if (isRetryable(err) || !isBadKey(err)) throw err;
        this.isolate(s.feature, err);
      }
    }
    this.counters.reconciled += written;
    this.lastReconcileAt = startedAt;
    return written;
  }

  // Redis refused PostgreSQL's snapshot as not newer. That is normal (it is up to date) unless
  // Redis is ahead of PostgreSQL's current version or differs at the same version: then another
  // store wrote it, or PostgreSQL was restored from a backup. PostgreSQL is read after Redis, so
  // a concurrent legitimate write can only make PostgreSQL look further ahead, never behind.
  private async checkDivergence(feature: string): Promise<void> {
    const cached = await this.cache.readFeature(feature);
    const truth = cached && (await this.repository.featureSnapshot(feature));
    if (!cached || !truth) return;
    const ahead = cached.version > truth.version;
    if (!ahead && (cached.version < truth.version || sameCohorts(cached.cohorts, truth.cohorts))) return;
    this.counters.diverged++;
    const what = ahead ? `is at v${cached.version}, ahead of` : `differs at v${cached.version} from`;
    this.onError(
      new PmfError(
        'ERR_STATE_CORRUPT',
        `Redis copy of flag ${feature} ${what} PostgreSQL (v${truth.version}, the truth); left as is: delete the Redis key to let reconcile rewrite it`,
      ),
    );
  }

  private reconcileDue(): boolean {
    return this.reconcileIntervalMs > 0 && this.clock.now() - this.lastReconcileAt >= this.reconcileIntervalMs;
  }

  // Marks the rows publish() sent; if that fails they stay pending and are simply sent again.
  private async flushSent(): Promise<number> {
    if (this.sent.length === 0) return 0;
    const ids = this.sent;
    this.sent = [];
    return this.markPublished(ids);
  }

  private async drain(): Promise<number> {
    // First, so the rows publish() already sent are not read and sent again.
    let total = await this.flushSent();
    for (;;) {
      const rows = await this.repository.pendingOutbox(this.batchSize, this.quarantine.features());
      if (rows.length === 0) return total;
      total += await this.send(rows);
      if (rows.length < this.batchSize) return total;
    }
  }

  // Only the newest row of each feature in a batch is written: it is a full snapshot, and rows of
  // one feature are numbered in version order because they are written under the feature's lock.
  private async send(rows: OutboxEntry[]): Promise<number> {
    const byFeature = new Map<string, { newest: OutboxEntry; ids: number[] }>();
    for (const row of rows) {
      const group = byFeature.get(row.feature);
      if (group) {
        group.newest = row;
        group.ids.push(row.id);
      } else {
        byFeature.set(row.feature, { newest: row, ids: [row.id] });
      }
    }
    const groups = [...byFeature.values()].sort((a, b) => a.newest.id - b.newest.id);
    const done: number[] = [];
    for (const { newest, ids } of groups) {
      const p = newest.payload;
      try {
        await this.cache.writeFeature(p.feature, p.version, p.cohorts, p.allocations);
        done.push(...ids);
      } catch (err) {
        if (!isRetryable(err) && isBadKey(err)) {
          // This feature's key is bad; its rows stay pending and the other features go on.
          this.isolate(p.feature, err);
          continue;
        }
        // Record what did reach Redis; if that fails too, those rows are simply sent again later.
        if (done.length > 0) await this.markPublished(done).catch((markErr) => this.onError(markErr));
        throw err;
      }
    }
    return this.markPublished(done);
  }

  private isolate(feature: string, err: unknown): void {
    if (!this.quarantine.record(feature, err, this.clock.now())) return;
    this.onError(
      new PmfError(
        'ERR_CACHE_UNAVAILABLE',
        `Redis refuses flag ${feature} (${errorMessage(err)}); its notices are held and the other features go on. ` +
          'Fix or delete the key; the next reconcile writes it from PostgreSQL.',
        { cause: err },
      ),
    );
  }

  private async markPublished(ids: number[]): Promise<number> {
    const marked = await this.repository.markPublished(ids);
    this.counters.published += marked;
    return marked;
  }

  private retryDelayMs(): number {
    return retryDelayMs(this.counters.consecutiveFailures, { initialMs: this.initialRetryMs, maxMs: this.maxRetryMs });
  }

  private schedule(ms: number): void {
    if (!this.running || ms <= 0) return;
    this.timer?.cancel();
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.relayOnce().catch((err) => this.onError(err));
    }, ms);
  }
}

function sameCohorts(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}
