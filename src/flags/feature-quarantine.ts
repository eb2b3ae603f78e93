// Features whose cache entry Redis refuses for a reason no retry fixes (the key holds another type:
// WRONGTYPE; its stored version is not a number), kept apart so one bad key never stops the
// others. Their outbox rows stay pending (PostgreSQL is still the truth); each reconcile tries them
// again and a success releases them. Counted, and listed in /readyz detail and metrics.

import { PmfError } from '../core/errors.js';

export interface FailingFeature {
  feature: string;
  /** WRONGTYPE, NOT_A_NUMBER or the error code; never the whole reply, which /readyz would expose. */
  reason: string;
  /** When it first failed (injected clock, ms). */
  since: number;
  attempts: number;
}

export class FeatureQuarantine {
  private readonly failing = new Map<string, FailingFeature>();
  /** Per-feature failures ever recorded (each attempt). */
  failures = 0;

  has(feature: string): boolean {
    return this.failing.has(feature);
  }

  features(): string[] {
    return [...this.failing.keys()];
  }

  list(): FailingFeature[] {
    return [...this.failing.values()].map((f) => ({ ...f }));
  }

  /** Records a failure; returns true if this is the feature's first (worth a log line). */
  record(feature: string, err: unknown, now: number): boolean {
    this.failures++;
    const prev = this.failing.get(feature);
    if (prev) {
      prev.attempts++;
      prev.reason = reasonOf(err);
      return false;
    }
    this.failing.set(feature, { feature, reason: reasonOf(err), since: now, attempts: 1 });
    return true;
  }

  /** Returns true if the feature was failing. */
  release(feature: string): boolean {
    return this.failing.delete(feature);
  }
}

/**
 * True only for the replies that say this one key is bad (WRONGTYPE, a stored version that is not a
 * number). Anything else, e.g. TRYAGAIN or CLUSTERDOWN while a Redis Cluster slot moves, is about
 * Redis, not the key, and is retried like an outage rather than holding the feature apart.
 */
export function isBadKey(err: unknown): boolean {
  const reason = reasonOf(err);
  return reason === 'WRONGTYPE' || reason === 'NOT_A_NUMBER';
}

function reasonOf(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  if (/WRONGTYPE/.test(text)) return 'WRONGTYPE';
  if (/stored version is not a number/.test(text)) return 'NOT_A_NUMBER';
  return err instanceof PmfError ? err.code : 'ERR_INTERNAL';
}
