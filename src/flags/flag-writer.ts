// The flag writer role's core: commit a command (and its outbox row) in PostgreSQL, then ask the
// outbox relay to drain the outbox to Redis right away. That Redis step is best effort on purpose:
// once committed, the relay owns delivery, so a Redis outage never fails or blocks a command.
// Commands arrive through flag-command-consumer.ts; pins through the admin API.

import type { Clock } from '../core/clock.js';
import type { Component } from '../core/lifecycle.js';
import type { Logger } from '../core/logger.js';
import { configDefaults } from '../config/schema.js';
import type { FlagCommand } from '../events/flag-command.js';
import type {
  ApplyResult,
  ApplyStatus,
  EnsureGuardedResult,
  RolloutStart,
  ExpiredPin,
  FlagRepository,
  OutboxEntry,
  PinChangeResult,
  PinRequest,
  UnpinRequest,
} from './flag-repository.js';
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
  /** Pins set or removed by people, pins that expired, and held commands those ends released. */
  pins: { pinned: number; unpinned: number; expired: number; released: number };
}

export interface FlagWriterOptions {
  repository: FlagRepository;
  relay: OutboxRelay;
  clock: Clock;
  logger: Logger;
  /** Failed immediate Redis pushes are reported here (default: a warning on the logger; the command itself succeeded). */
  onRelayError?: (err: unknown) => void;
  /** While started, end expired pins this often (default: config flagWriter.pinSweepIntervalMs; 0 = never: call expirePins yourself). */
  pinSweepIntervalMs?: number;
  /** Failed pin sweeps land here (default: an error on the logger; the next sweep retries). */
  onPinSweepError?: (err: unknown) => void;
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
  private readonly pins = { pinned: 0, unpinned: 0, expired: 0, released: 0 };
  private readonly pinSweepIntervalMs: number;
  private readonly onPinSweepError: (err: unknown) => void;
  private sweepTimer: { cancel(): void } | undefined;
  private sweeping: Promise<unknown> = Promise.resolve();
  private running = false;

  constructor(options: FlagWriterOptions) {
    this.repository = options.repository;
    this.relay = options.relay;
    this.clock = options.clock;
    this.onRelayError = options.onRelayError ?? ((err) => options.logger.warn('Redis push deferred to the outbox relay', { err }));
    this.pinSweepIntervalMs = options.pinSweepIntervalMs ?? configDefaults.flagWriter.pinSweepIntervalMs;
    this.onPinSweepError = options.onPinSweepError ?? ((err) => options.logger.error('pin sweep failed', { err }));
  }

  /** Starts the relay, which first reconciles Redis from PostgreSQL, then the pin sweep. */
  async start(): Promise<void> {
    await this.relay.start();
    if (this.running) return;
    this.running = true;
    this.scheduleSweep();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.sweepTimer?.cancel();
    this.sweepTimer = undefined;
    await this.sweeping.then(noop, noop);
    await this.relay.stop();
  }

  /**
   * Applies a command exactly once. Resolves when it is committed in PostgreSQL and Redis has
   * been tried; throws only if PostgreSQL did not commit (so a consumer must retry the command).
   */
  async apply(cmd: FlagCommand): Promise<ApplyResult> {
    const started = this.clock.now();
    const { result, outbox } = await this.repository.applyCommandWithOutbox(cmd);
    this.commands[result.status]++;
    // A row can come back without the command applying: an expired pin it ended released a held one.
    if (outbox || result.status === 'applied') await this.pushToRedis(outbox);
    if (result.status === 'applied') this.observeLatency(this.clock.now() - started);
    return result;
  }

  /** Pins a cohort (see FlagRepository.pin) and pushes a changed state to Redis at once. */
  async pin(req: PinRequest): Promise<PinChangeResult> {
    const result = await this.repository.pin(req);
    if (result.status === 'applied') {
      this.pins.pinned++;
      if (result.released) this.pins.released++;
      await this.pushToRedis();
    }
    return result;
  }

  /** Removes a pin (see FlagRepository.unpin); a held command it releases reaches Redis at once. */
  async unpin(req: UnpinRequest): Promise<PinChangeResult> {
    const result = await this.repository.unpin(req);
    if (result.status === 'applied') {
      this.pins.unpinned++;
      if (result.released) this.pins.released++;
      await this.pushToRedis();
    }
    return result;
  }

  /** Ends expired pins now; the sweep calls this on its interval. */
  async expirePins(): Promise<ExpiredPin[]> {
    const expired = await this.repository.expirePins();
    if (expired.length > 0) {
      this.pins.expired += expired.length;
      this.pins.released += expired.filter((e) => e.released).length;
      await this.pushToRedis();
    }
    return expired;
  }

  /** Gives a rule's guarded cohorts their `on` rows, at a rollout's first stage when given (see FlagRepository.ensureGuarded). */
  async ensureGuarded(feature: string, cohorts: readonly string[], rollout?: RolloutStart): Promise<EnsureGuardedResult> {
    const reason = rollout ? `guarded cohort registered by rules at rollout stage 1 (${rollout.percent} %)` : undefined;
    const result = await this.repository.ensureGuarded(feature, cohorts, reason, rollout);
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
      pins: { ...this.pins },
    };
  }

  private scheduleSweep(): void {
    if (!this.running || this.pinSweepIntervalMs <= 0) return;
    this.sweepTimer = this.clock.setTimeout(() => {
      this.sweepTimer = undefined;
      this.sweeping = this.expirePins()
        .catch((err) => this.onPinSweepError(err))
        .finally(() => this.scheduleSweep());
    }, this.pinSweepIntervalMs);
  }

  // With the row the command wrote, one Redis call; otherwise a relay run finds it in the outbox.
  private async pushToRedis(outbox?: OutboxEntry): Promise<void> {
    try {
      if (outbox) await this.relay.publish(outbox);
      else await this.relay.relayOnce();
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

const noop = () => {};
