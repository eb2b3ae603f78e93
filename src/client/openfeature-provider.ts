// An OpenFeature server provider on top of FlagClient, so applications that already use the
// OpenFeature SDK read pmf-guard's flags with getBooleanValue(). The cohort comes from the
// evaluation context (attribute "cohort" by default), the user from its targetingKey. pmf-guard
// flags are booleans per cohort: other flag types resolve to their default with TYPE_MISMATCH.

import {
  ErrorCode,
  OpenFeatureEventEmitter,
  ProviderEvents,
  StandardResolutionReasons,
  type EvaluationContext,
  type JsonValue,
  type Provider,
  type ResolutionDetails,
} from '@openfeature/server-sdk';
import { FlagClient, type FlagClientOptions, type FlagReason } from './flag-client.js';

export interface PmfGuardProviderOptions {
  /** Evaluation-context attribute holding the user's cohort (default "cohort"). */
  cohortAttribute?: string;
}

const REASONS: Record<FlagReason, string> = {
  TARGETING_MATCH: StandardResolutionReasons.TARGETING_MATCH,
  SPLIT: StandardResolutionReasons.SPLIT,
  STALE: StandardResolutionReasons.STALE,
  DEFAULT: StandardResolutionReasons.DEFAULT,
  ERROR: StandardResolutionReasons.ERROR,
};

export class PmfGuardProvider implements Provider {
  readonly metadata = { name: 'pmf-guard' } as const;
  readonly runsOn = 'server' as const;
  readonly events = new OpenFeatureEventEmitter();
  private readonly client: FlagClient;
  private readonly ownsClient: boolean;
  private readonly cohortAttribute: string;
  private unsubscribe: (() => void) | undefined;

  /** Give a FlagClient you start and stop yourself, or options for one this provider owns. */
  constructor(client: FlagClient | FlagClientOptions, options: PmfGuardProviderOptions = {}) {
    this.ownsClient = !(client instanceof FlagClient);
    this.client = client instanceof FlagClient ? client : new FlagClient(client);
    this.cohortAttribute = options.cohortAttribute ?? 'cohort';
  }

  async initialize(): Promise<void> {
    this.unsubscribe = this.client.onChange((feature) => this.events.emit(ProviderEvents.ConfigurationChanged, { flagsChanged: [feature] }));
    if (this.ownsClient) await this.client.start();
  }

  async onClose(): Promise<void> {
    this.unsubscribe?.();
    if (this.ownsClient) await this.client.stop();
  }

  async resolveBooleanEvaluation(flagKey: string, defaultValue: boolean, context: EvaluationContext): Promise<ResolutionDetails<boolean>> {
    const cohort = context[this.cohortAttribute];
    if (typeof cohort !== 'string' || cohort === '') {
      return {
        value: defaultValue,
        reason: StandardResolutionReasons.ERROR,
        errorCode: ErrorCode.INVALID_CONTEXT,
        errorMessage: `pmf-guard flags are per cohort: put the user's cohort in the evaluation context attribute "${this.cohortAttribute}"`,
      };
    }
    const e = await this.client.evaluate(flagKey, { cohort, userId: context.targetingKey }, defaultValue);
    // Outside a rollout's allocation the user is served the control: that is the variant.
    const details: ResolutionDetails<boolean> = { value: e.enabled, variant: e.cohort, reason: REASONS[e.reason], flagMetadata: { version: e.version } };
    if (e.allocation) {
      details.flagMetadata = { ...details.flagMetadata, allocationCohort: e.allocation.cohort, allocationPercent: e.allocation.percent, allocationIncluded: e.allocation.included };
    }
    // A cohort pmf-guard does not guard (e.g. control) is a normal default; an unknown feature is not.
    if (e.reason === 'DEFAULT' && e.version === 0) {
      details.errorCode = ErrorCode.FLAG_NOT_FOUND;
      details.errorMessage = `pmf-guard has no flag for feature "${flagKey}"`;
    } else if (e.reason === 'ERROR') {
      details.errorCode = ErrorCode.PROVIDER_NOT_READY;
      details.errorMessage = 'Redis unreachable and this feature was never loaded';
    }
    return details;
  }

  async resolveStringEvaluation(flagKey: string, defaultValue: string): Promise<ResolutionDetails<string>> {
    return mismatch(flagKey, defaultValue, 'string');
  }

  async resolveNumberEvaluation(flagKey: string, defaultValue: number): Promise<ResolutionDetails<number>> {
    return mismatch(flagKey, defaultValue, 'number');
  }

  async resolveObjectEvaluation<T extends JsonValue>(flagKey: string, defaultValue: T): Promise<ResolutionDetails<T>> {
    return mismatch(flagKey, defaultValue, 'object');
  }
}

function mismatch<T>(flagKey: string, defaultValue: T, type: string): ResolutionDetails<T> {
  return {
    value: defaultValue,
    reason: StandardResolutionReasons.ERROR,
    errorCode: ErrorCode.TYPE_MISMATCH,
    errorMessage: `pmf-guard flag "${flagKey}" is a boolean; asked for a ${type}`,
  };
}
