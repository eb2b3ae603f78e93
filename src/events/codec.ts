// JSON codecs for the records on every topic. Decoding validates the shape by hand (the hot path
// cannot afford a schema library per record); a record that does not decode is a permanent error:
// the consumer counts it and moves on rather than blocking the partition forever.

import { PmfError } from '../core/errors.js';
import type { FeaturePartial } from './feature-partial.js';
import type { FeatureEvent } from './feature-event.js';
import type { FlagCommand } from './flag-command.js';
import type { Verdict } from './verdict.js';

export function encodeJson(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

function parse(buf: Buffer, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(buf.toString('utf8'));
  } catch (err) {
    throw new PmfError('ERR_EVENT_DECODE', `${what}: not JSON: ${(err as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new PmfError('ERR_EVENT_DECODE', `${what}: not a JSON object`);
  return v as Record<string, unknown>;
}

function need(ok: boolean, what: string, field: string): void {
  if (!ok) throw new PmfError('ERR_EVENT_DECODE', `${what}: field "${field}" is missing or has the wrong type`);
}

export function decodeFeatureEvent(buf: Buffer): FeatureEvent {
  return checkFeatureEvent(parse(buf, 'feature event'));
}

/** Checks an already-parsed object (e.g. a line of an exported file) and returns it typed. */
export function checkFeatureEvent(value: unknown): FeatureEvent {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new PmfError('ERR_EVENT_DECODE', 'feature event: not a JSON object');
  const o = value as Record<string, unknown>;
  need(typeof o.user === 'string', 'feature event', 'user');
  need(typeof o.time === 'number' && Number.isFinite(o.time), 'feature event', 'time');
  need(typeof o.id === 'string', 'feature event', 'id');
  need(typeof o.name === 'string', 'feature event', 'name');
  need(Array.isArray(o.flags), 'feature event', 'flags');
  need(o.durationMs === undefined || (typeof o.durationMs === 'number' && o.durationMs >= 0), 'feature event', 'durationMs');
  need(o.origin === undefined || typeof o.origin === 'string', 'feature event', 'origin');
  for (const f of o.flags as unknown[]) {
    const flag = f as Record<string, unknown>;
    need(typeof flag?.feature === 'string' && typeof flag?.variant === 'string', 'feature event', 'flags[]');
  }
  return o as unknown as FeatureEvent;
}

export function decodeFeaturePartial(buf: Buffer): FeaturePartial {
  const o = parse(buf, 'feature partial');
  for (const k of ['feature', 'offset']) need(typeof o[k] === 'string', 'feature partial', k);
  for (const k of ['partition', 'watermark']) need(typeof o[k] === 'number', 'feature partial', k);
  need(o.recordEvents === undefined || (Number.isInteger(o.recordEvents) && (o.recordEvents as number) > 0), 'feature partial', 'recordEvents');
  need(Array.isArray(o.cohorts), 'feature partial', 'cohorts');
  for (const c of o.cohorts as Record<string, unknown>[]) {
    need(typeof c?.cohort === 'string', 'feature partial', 'cohorts[].cohort');
    for (const k of ['firstExposureAt', 'exposed']) need(typeof c[k] === 'number', 'feature partial', `cohorts[].${k}`);
    for (const k of ['activation', 'retention', 'latency']) need(typeof c[k] === 'object' && c[k] !== null, 'feature partial', `cohorts[].${k}`);
    // Optional (added later): snapshots without it decode as before.
    const early = (c.activation as Record<string, unknown>).early as Record<string, unknown> | undefined;
    need(
      early === undefined || (typeof early === 'object' && early !== null && ['afterMs', 'reached', 'successes'].every((k) => typeof early[k] === 'number') &&
        (early.maturedSuccesses === undefined || typeof early.maturedSuccesses === 'number')),
      'feature partial', 'cohorts[].activation.early',
    );
  }
  return o as unknown as FeaturePartial;
}

const COMMAND_ACTIONS: readonly string[] = ['rollback', 'restore', 'advance', 'hold', 'complete', 'pause', 'resume', 'abort', 'start'];

export function decodeFlagCommand(buf: Buffer): FlagCommand {
  const o = parse(buf, 'flag command');
  for (const k of ['commandId', 'feature', 'cohort', 'reason', 'issuedAt']) need(typeof o[k] === 'string', 'flag command', k);
  need(COMMAND_ACTIONS.includes(o.action as string), 'flag command', 'action');
  need(o.state === 'on' || o.state === 'off', 'flag command', 'state');
  need(o.source === 'verdict' || o.source === 'manual', 'flag command', 'source');
  // Only rollbacks and restores may come without a rollout: a ramp step without one means nothing.
  need(o.rollout !== undefined || o.action === 'rollback' || o.action === 'restore', 'flag command', 'rollout');
  if (o.rollout !== undefined) {
    const r = o.rollout as Record<string, unknown>;
    need(typeof r === 'object' && r !== null, 'flag command', 'rollout');
    need(typeof r.percent === 'number' && r.percent >= 0 && r.percent <= 100, 'flag command', 'rollout.percent');
    for (const k of ['stage', 'stages']) need(Number.isInteger(r[k]) && (r[k] as number) >= 0, 'flag command', `rollout.${k}`);
    for (const k of ['status', 'salt', 'control']) need(typeof r[k] === 'string', 'flag command', `rollout.${k}`);
    need(r.control !== '', 'flag command', 'rollout.control');
  }
  return o as unknown as FlagCommand;
}

export function decodeVerdict(buf: Buffer): Verdict {
  const o = parse(buf, 'verdict');
  for (const k of ['verdictId', 'feature', 'cohort', 'outcome', 'reason', 'ruleVersion']) need(typeof o[k] === 'string', 'verdict', k);
  return o as unknown as Verdict;
}
