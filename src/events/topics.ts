// Topic names carry a configurable prefix (default "pmf.").

export interface Topics {
  events: string;
  cohortStats: string;
  verdicts: string;
  commands: string;
}

export function topicNames(prefix: string): Topics {
  return {
    events: `${prefix}events.v1`,
    cohortStats: `${prefix}cohort-stats.v1`,
    verdicts: `${prefix}verdicts.v1`,
    commands: `${prefix}commands.v1`,
  };
}
