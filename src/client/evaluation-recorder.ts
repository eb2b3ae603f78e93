// Records a flag evaluation on the active OpenTelemetry span with the attributes pmf-guard's
// receiver reads (docs/contract.md): feature_flag.key, feature_flag.result.variant (the cohort)
// and feature_flag.context.id (the user). A span event is the default because one span may
// evaluate several flags; span attributes can be added for backends that only index those.

import { trace, type Attributes } from '@opentelemetry/api';
import type { FlagEvaluation } from './flag-client.js';

export const FLAG_EVALUATION_EVENT = 'feature_flag.evaluation';

export interface RecordOptions {
  /** Also set the attributes on the span itself (the last evaluated flag wins). Default false. */
  spanAttributes?: boolean;
  /** Also add a span event (default true). */
  spanEvent?: boolean;
}

export function evaluationAttributes(e: FlagEvaluation, userId?: string): Attributes {
  const attributes: Attributes = {
    'feature_flag.key': e.feature,
    'feature_flag.result.variant': e.cohort,
    'feature_flag.result.value': e.enabled,
    'feature_flag.result.reason': e.reason.toLowerCase(),
    'feature_flag.provider.name': 'pmf-guard',
  };
  if (e.version > 0) attributes['feature_flag.version'] = String(e.version);
  if (userId !== undefined && userId !== '') attributes['feature_flag.context.id'] = userId;
  return attributes;
}

/** Adds the evaluation to the active span, if there is one that records. */
export function recordEvaluation(e: FlagEvaluation, userId: string | undefined, options: RecordOptions = {}): void {
  const span = trace.getActiveSpan();
  if (!span || !span.isRecording()) return;
  const attributes = evaluationAttributes(e, userId);
  if (options.spanEvent ?? true) span.addEvent(FLAG_EVALUATION_EVENT, attributes);
  if (options.spanAttributes) span.setAttributes(attributes);
}
