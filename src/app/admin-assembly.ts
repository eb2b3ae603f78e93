// The admin API's assembly: its routes (reads, manual flag changes, rollout steering), the
// readiness probes of whatever this process connected to, and the sources the status page and
// metrics read. The admin API uses the listeners' auth and TLS (docs/contract.md).

import type { Cluster, Redis } from 'ioredis';
import type { Clock } from '../core/clock.js';
import type { BearerAuth } from '../core/bearer-auth.js';
import type { Logger } from '../core/logger.js';
import type { Config } from '../config/schema.js';
import type { Topics } from '../events/topics.js';
import type { Verdict } from '../events/verdict.js';
import type { LogProducer, PartitionedLog } from '../log/partitioned-log.js';
import type { RuleSet } from '../rules/schema.js';
import type { SqlClient } from '../store/sql-client.js';
import type { StatefulRunner } from '../stream/stateful-runner.js';
import type { VerdictProcessor } from '../stream/verdict-processor.js';
import type { VerdictHistory } from '../verdict/verdict-history.js';
import type { Report } from '../report/feature-report.js';
import type { FlagRepository } from '../flags/flag-repository.js';
import type { FlagWriter } from '../flags/flag-writer.js';
import type { OutboxRelay } from '../flags/outbox-relay.js';
import { AdminServer } from '../admin/admin-server.js';
import type { MetricsRegistry } from '../admin/metrics-registry.js';
import { flagRoutes, type FlagAdminReader } from '../admin/flag-routes.js';
import { readRoutes } from '../admin/read-routes.js';
import { rolloutRoutes, steerPublisher } from '../admin/rollout-routes.js';
import { httpsServerOptions, loadTlsMaterial } from '../receiver/transport/listener-tls.js';

export interface AdminAssembly {
  config: Config;
  dist: { log: boolean; store: boolean; cache: boolean };
  clock: Clock;
  logger: Logger;
  bearerAuth: BearerAuth | undefined;
  /** The rules in force now (a reload replaces them). */
  rules: () => RuleSet;
  topics: Topics;
  log: PartitionedLog;
  producer: LogProducer;
  metrics: MetricsRegistry;
  sql?: SqlClient;
  redis?: Redis | Cluster;
  flagRepo?: FlagRepository;
  flagWriter?: FlagWriter;
  relay?: OutboxRelay;
  verdictRunner?: StatefulRunner;
  history?: VerdictHistory;
  latestVerdicts: (feature: string, cohort?: string) => Verdict[];
  report: (period: { from?: number; to?: number }) => Promise<Report>;
}

export function assembleAdminServer(a: AdminAssembly): AdminServer {
  const { config, dist, clock, logger, bearerAuth: auth, rules, sql, redis, flagRepo, flagWriter, relay, verdictRunner } = a;
  return new AdminServer({
    host: config.admin.host,
    port: config.admin.port,
    auth,
    https: config.tls ? httpsServerOptions(loadTlsMaterial(config.tls)) : undefined,
    logger: logger.child('admin'),
    routes: [
      readRoutes({ rules, clock, history: a.history, flags: flagRepo, report: a.report }),
      ...(flagWriter && flagRepo ? [flagRoutes({ writer: flagWriter, reader: declaredFlags(flagRepo, rules), auth, clock, logger: logger.child('admin') })] : []),
      rolloutRoutes({
        rules,
        publish: steerPublisher(a.producer, a.topics.cohortStats),
        rollouts: verdictRunner ? (feature) => [...verdictRunner.processors().values()].flatMap((p) => (p as VerdictProcessor).engine.rollouts(feature)) : undefined,
        getFlag: flagRepo ? (feature) => declaredFlags(flagRepo, rules).getFlag(feature) : undefined,
        auth,
        clock,
      }),
    ],
    sources: {
      metrics: a.metrics,
      probes: [
        { name: dist.log ? 'kafka' : 'embedded-log', check: () => a.log.ping() },
        ...(sql ? [{ name: dist.store ? 'postgresql' : 'pglite', check: async () => { await sql.query('SELECT 1'); } }] : []),
        ...(redis ? [{ name: 'redis', check: async () => { await redis.ping(); } }] : []),
        // Ready while some features fail (the others flow), but the failing ones are named.
        ...(relay ? [{ name: 'flag-cache', check: async () => { const failing = relay.failingFeatures(); return failing.length > 0 ? { failingFeatures: failing } : undefined; } }] : []),
      ],
      getFlag: flagRepo ? (feature) => declaredFlags(flagRepo, rules).getFlag(feature) : undefined,
      latestVerdicts: verdictRunner ? async (feature, cohort) => a.latestVerdicts(feature, cohort) : undefined,
    },
  });
}

/**
 * A feature declared in the rules is known even before any of its cohorts has a row (no data
 * seen yet): it answers with no cohorts instead of 404.
 */
function declaredFlags(repo: FlagRepository, rules: () => RuleSet): FlagAdminReader {
  return {
    getFlag: async (feature) => (await repo.getFlag(feature)) ?? (rules().byFeature.has(feature) ? { feature, version: 0, cohorts: {} } : null),
    auditLog: (feature, query) => repo.auditLog(feature, query),
  };
}
