// A rule reduced to what the per-event hot path needs: windows in ms and plain fields for the
// activation match, so apply() does no option lookups or unit conversions per event.

import type { EventBody } from '../events/feature-event.js';
import type { Rule } from '../rules/schema.js';

export interface CompiledRule {
  readonly rule: Rule;
  readonly feature: string;
  /** Activation exists only when the rule names an action. */
  readonly hasActivation: boolean;
  readonly actionSpanName: string | undefined;
  readonly actionAttrKey: string | undefined;
  readonly actionAttrValue: string | undefined;
  readonly activationWindowMs: number;
  /** The early activation landmark (activation.earlySeconds), ms; 0 when none or without an action. */
  readonly earlyMs: number;
  readonly returnAfterMs: number;
  readonly retentionWindowMs: number;
  /** After firstExposure + this, nothing about the user can change any statistic of this feature. */
  readonly closeAfterMs: number;
  /** Latency comes from spans with this name (joined by user); undefined: spans carrying the flag. */
  readonly latencySpanName: string | undefined;
  readonly slowThresholdMs: number;
  readonly cohortMap: Readonly<Record<string, string>> | undefined;
}

export function compileRule(rule: Rule): CompiledRule {
  const action = rule.activation.action;
  const activationWindowMs = rule.activation.windowSeconds * 1000;
  const retentionWindowMs = rule.retention.windowSeconds * 1000;
  return {
    rule,
    feature: rule.featureId,
    hasActivation: action !== undefined,
    actionSpanName: action?.spanName,
    actionAttrKey: action?.attribute?.key,
    actionAttrValue: action?.attribute?.value,
    activationWindowMs,
    earlyMs: action !== undefined && rule.activation.earlySeconds !== undefined ? rule.activation.earlySeconds * 1000 : 0,
    returnAfterMs: rule.retention.returnAfterSeconds * 1000,
    retentionWindowMs,
    closeAfterMs: Math.max(activationWindowMs, retentionWindowMs),
    latencySpanName: rule.latency.spanName,
    slowThresholdMs: rule.latencyP95Threshold,
    cohortMap: rule.cohorts.map,
  };
}

export function cohortOf(rule: CompiledRule, variant: string): string {
  // hasOwn: a variant named "constructor" must not pick up Object.prototype members.
  const map = rule.cohortMap;
  return map !== undefined && Object.hasOwn(map, variant) ? map[variant] : variant;
}

/** The rule's activation action: span name and/or attribute, both must match when both are set. */
export function matchesAction(rule: CompiledRule, e: EventBody): boolean {
  if (!rule.hasActivation) return false;
  if (rule.actionSpanName !== undefined && e.name !== rule.actionSpanName) return false;
  if (rule.actionAttrKey !== undefined) {
    const attrs = e.attrs;
    if (attrs === undefined || !Object.hasOwn(attrs, rule.actionAttrKey)) return false;
    if (attrs[rule.actionAttrKey] !== rule.actionAttrValue) return false;
  }
  return true;
}
