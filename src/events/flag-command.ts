// A command on pmf.commands.v1. commandId is deterministic for automatic commands, so a
// re-emitted verdict produces the same id and the flag writer applies it once.

import type { Verdict } from './verdict.js';

export type FlagState = 'on' | 'off';

export interface FlagCommand {
  commandId: string;
  feature: string;
  cohort: string;
  action: 'rollback' | 'restore';
  /** The state the cohort's flag should have after the command. */
  state: FlagState;
  source: 'verdict' | 'manual';
  /** Why: the verdict's reason line, or a person's note. */
  reason: string;
  /** The verdict that caused it (absent for manual commands). */
  evidence?: Verdict;
  issuedAt: string;
  actor?: string;
  /** HMAC over every other field, `v1.<keyId>.<hex>` (events/command-signature.ts). */
  signature?: string;
}
