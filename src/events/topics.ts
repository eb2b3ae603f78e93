// Topic names carry a configurable prefix (default "pmf."). The suffix is the record format's
// version: events.v2 holds binary batches of events per partition (events/event-record-codec.ts).
// The cohort-stats records say their format themselves (JSON, or binary format 2 from
// events/cohort-stats-codec.ts), so the topic keeps its name while aggregators are upgraded.

export interface Topics {
  events: string;
  cohortStats: string;
  verdicts: string;
  commands: string;
}

export function topicNames(prefix: string): Topics {
  return {
    events: `${prefix}events.v2`,
    cohortStats: `${prefix}cohort-stats.v1`,
    verdicts: `${prefix}verdicts.v1`,
    commands: `${prefix}commands.v1`,
  };
}
