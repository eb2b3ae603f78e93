// The flag writer role's core: commit a command in PostgreSQL, then push it to Redis at once.
// The Redis step is best effort on purpose: once committed, the outbox relay owns delivery, so a
// Redis outage never fails or blocks a command. Kafka wiring lives outside (the lead's app code).

import type { Clock } from '../core/clock.js';
import { errorMessage } from '../core/errors.js';
import type { Component } from '../core/lifecycle.js';
import type { FlagCommand } from '../events/flag-command.js';
import type { ApplyResult, ApplyStatus, EnsureGuardedResult, FlagRepository } from './flag-repository.js';
import type { OutboxRelay } from './outbox-relay.js';

/** Upper bounds (ms) of the flag-write latency buckets, Prometheus style (cumulative). */
export const FLAG_WRITE_LATENCY_BUCKETS_MS = [1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000] as const;

export interface FlagWriterMetrics {
  /** Commands handled, by result. */
  commands: Record<ApplyStatus, number>;
  /** Time from receiving a command to Redis written (or the attempt failing), for applied commands. */
  writeLatency: { count: number; sumMs: number; buckets: { le: number; count: number }[] };
  /** Immediate Redis pushes that failed (the relay retries them). */
  relayFailures: number;
}

export interface FlagWriterOptions {
  repository: FlagRepository;
  relay: OutboxRelay;
  clock: Clock;
  /** Failed immediate Redis pushes are reported here (the command itself succeeded). */
  onRelayError?: (err: unknown) => void;
}

export class FlagWriter implements Component {
  readonly name = 'flag-writer';
  private readonly repository: FlagRepository;
  private readonly relay: OutboxRelay;
  private readonly clock: Clock;
  private readonly onRelayError: (err: unknown) => void;
  private readonly commands: Record<ApplyStatus, number> = { applied: 0, duplicate: 0, no_change: 0, skipped_pinned: 0 };
  private readonly latency = { count: 0, sumMs: 0, bucketCounts: FLAG_WRITE_LATENCY_BUCKETS_MS.map(() => 0) };
  private relayFailures = 0;

  constructor(options: FlagWriterOptions) {
    this.repository = options.repository;
    this.relay = options.relay;
    this.clock = options.clock;
    this.onRelayError = options.onRelayError ?? ((err) => console.error(`[flag-writer] Redis push deferred to the outbox relay: ${errorMessage(err)}`));
  }

  /** Starts the relay, which first reconciles Redis from PostgreSQL. */
  start(): Promise<void> {
    return this.relay.start();
  }

  stop(): Promise<void> {
    return this.relay.stop();
  }

  /**
   * Applies a command exactly once. Resolves when it is committed in PostgreSQL and Redis has
   * been tried; throws only if PostgreSQL did not commit (so a consumer must retry the command).
   */
  async apply(cmd: FlagCommand): Promise<ApplyResult> {
    const started = this.clock.now();
    const result = await this.repository.applyCommand(cmd);
    this.commands[result.status]++;
    if (result.status === 'applied') {
      await this.pushToRedis();
      this.observeLatency(this.clock.now() - started);
    }
    return result;
  }

  /** Gives a rule's guarded cohorts their `on` rows (see FlagRepository.ensureGuarded). */
  async ensureGuarded(feature: string, cohorts: readonly string[]): Promise<EnsureGuardedResult> {
    const result = await this.repository.ensureGuarded(feature, cohorts);
    if (result.inserted.length > 0) await this.pushToRedis();
    return result;
  }

  metrics(): FlagWriterMetrics {
    let cumulative = 0;
    const buckets = FLAG_WRITE_LATENCY_BUCKETS_MS.map((le, i) => {
      cumulative += this.latency.bucketCounts[i];
      return { le, count: cumulative };
    });
    return {
      commands: { ...this.commands },
      writeLatency: { count: this.latency.count, sumMs: this.latency.sumMs, buckets },
      relayFailures: this.relayFailures,
    };
  }

  private async pushToRedis(): Promise<void> {
    try {
      await this.relay.relayOnce();
    } catch (err) {
      this.relayFailures++;
      this.onRelayError(err);
    }
  }

  private observeLatency(ms: number): void {
    this.latency.count++;
    this.latency.sumMs += ms;
    const i = FLAG_WRITE_LATENCY_BUCKETS_MS.findIndex((le) => ms <= le);
    if (i >= 0) this.latency.bucketCounts[i]++;
  }
}
