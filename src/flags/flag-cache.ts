// What the outbox relay needs from a flag cache: Redis in the distributed deployment, an
// in-process map in the embedded one (no Redis to install; applications read the admin API).

import type { CohortAllocation } from '../client/allocation.js';
import type { FlagState } from '../events/flag-command.js';

export interface FlagCache {
  /** Writes a feature's full snapshot (cohort states and rollout allocations) if `version` is newer; true if written. */
  writeFeature(feature: string, version: number, cohorts: Record<string, FlagState>, allocations?: Record<string, CohortAllocation>): Promise<boolean>;
  /** The cached state of a feature, or null; reconcile uses it to tell "up to date" from "diverged". */
  readFeature(feature: string): Promise<{ version: number; cohorts: Record<string, FlagState> } | null>;
}

export class InMemoryFlagCache implements FlagCache {
  private readonly features = new Map<string, { version: number; cohorts: Record<string, FlagState>; allocations?: Record<string, CohortAllocation> }>();

  async writeFeature(feature: string, version: number, cohorts: Record<string, FlagState>, allocations?: Record<string, CohortAllocation>): Promise<boolean> {
    const prev = this.features.get(feature);
    if (prev && prev.version >= version) return false;
    this.features.set(feature, allocations && Object.keys(allocations).length > 0 ? { version, cohorts: { ...cohorts }, allocations: structuredClone(allocations) } : { version, cohorts: { ...cohorts } });
    return true;
  }

  async readFeature(feature: string): Promise<{ version: number; cohorts: Record<string, FlagState> } | null> {
    return this.read(feature) ?? null;
  }

  read(feature: string): { version: number; cohorts: Record<string, FlagState>; allocations?: Record<string, CohortAllocation> } | undefined {
    return this.features.get(feature);
  }
}
