// The composition root: the only file that knows every adapter. It picks Kafka or the embedded
// log, PostgreSQL or PGlite, Redis or the in-process flag cache, and wires the roles. Components
// start downstream-first (flag writer → verdict → aggregator → receiver) so each has a live
// consumer, and stop upstream-first so each drains into one.

import { join, resolve } from 'node:path';
import { mkdirSync, readFileSync } from 'node:fs';
import { Cluster, Redis } from 'ioredis';
import { PGlite } from '@electric-sql/pglite';
import { systemClock, type Clock } from '../core/clock.js';
import { errorMessage } from '../core/errors.js';
import { once, stopAll, type Component } from '../core/lifecycle.js';
import { createLogger, type Logger } from '../core/logger.js';
import { isDistributed, type Config } from '../config/schema.js';
import { topicNames, type Topics } from '../events/topics.js';
import type { PartitionedLog } from '../log/partitioned-log.js';
import { createLog, topicSpecs } from './create-log.js';
import { aggregatorSettings, createEvaluator, verdictSettings } from './stage-settings.js';
import type { RuleSet } from '../rules/schema.js';
import { OtlpReceiver } from '../receiver/otlp-receiver.js';
import { loadBearerAuth } from '../core/bearer-auth.js';
import { loadTlsMaterial } from '../receiver/transport/listener-tls.js';
import { parseKeyRing, Pseudonymizer } from '../receiver/mapping/pseudonymizer.js';
import { ReceiverMetrics } from '../receiver/receiver-metrics.js';
import { AggregatorProcessor, aggregatorProcessorFactory } from '../stream/aggregator-processor.js';
import { StatefulRunner } from '../stream/stateful-runner.js';
import { SqlCheckpointStore } from '../store/sql-checkpoint-store.js';
import { VerdictProcessor, verdictProcessorFactory } from '../stream/verdict-processor.js';
import { guardedCohorts } from '../verdict/verdict-engine.js';
import type { Verdict } from '../events/verdict.js';
import { migrate } from '../store/migrations.js';
import { TableRetention } from '../store/table-retention.js';
import type { SqlClient } from '../store/sql-client.js';
import { PgSqlClient } from '../store/pg-sql-client.js';
import { openPgPool } from '../store/pg-pool.js';
import { PgliteSqlClient } from '../store/pglite-sql-client.js';
import { FlagRepository } from '../flags/flag-repository.js';
import { RedisFlagCache } from '../flags/redis-flag-cache.js';
import { InMemoryFlagCache } from '../flags/flag-cache.js';
import { OutboxRelay } from '../flags/outbox-relay.js';
import { FlagWriter } from '../flags/flag-writer.js';
import { FlagCommandConsumer } from '../flags/flag-command-consumer.js';
import { MetricsRegistry } from '../admin/metrics-registry.js';
import { resolvePseudonymKey } from './pseudonym-key.js';
import { resolveCommandKeyRing } from './command-key.js';
import { securityWarnings } from '../config/security-warnings.js';
import { appMetrics } from './app-metrics.js';
import { VerdictHistory } from '../verdict/verdict-history.js';
import { Notifier } from '../notify/notifier.js';
import { loadSigningKey } from '../notify/webhook-signature.js';
import { VerdictFeed, webhookTargets } from './verdict-feed.js';
import { ReportBuilder, type Report } from '../report/feature-report.js';
import { decodeCohortStats } from '../events/cohort-stats-codec.js';
import { processMetrics } from './process-metrics.js';
import { GuardedCohortRegistrar } from './guarded-cohort-registrar.js';
import { LogEventSink } from '../receiver/event-sink.js';
import { assembleAdminServer } from './admin-assembly.js';

export interface AppDeps {
  clock?: Clock;
  logger?: Logger;
}

export interface App extends Component {
  readonly config: Config;
  readonly topics: Topics;
  /** Bound ports (useful when the config asked for port 0). */
  receiverPort(): number | undefined;
  receiverHttpPort(): number | undefined;
  adminPort(): number;
  latestVerdicts(feature: string, cohort?: string): Verdict[];
  /** Puts new rules in force in every stage of this process (already validated by the caller). */
  setRules(rules: RuleSet): Promise<void>;
}

const has = (role: Config['role'], ...roles: Config['role'][]) => role === 'all' || roles.includes(role);

export async function buildApp(config: Config, initialRules: RuleSet, deps: AppDeps = {}): Promise<App> {
  // Rules can be reloaded (SIGHUP); every stage reads the current set through this holder.
  let rules = initialRules;
  const clock = deps.clock ?? systemClock;
  const logger = deps.logger ?? createLogger(config.logLevel);
  const role = config.role;
  const dist = isDistributed(config);
  const topics = topicNames(config.kafka.topicPrefix);
  const metrics = new MetricsRegistry();
  const onError = (err: unknown, context: string) => logger.error(context, { err });
  let reloads: Promise<unknown> = Promise.resolve();
  const registerGuardedFlags = async (writer: FlagWriter, set: RuleSet = rules) => {
    for (const rule of set.rules) {
      const cohorts = guardedCohorts(rule, []);
      // A rollout starts at its first stage; in dry-run nothing drives it, so the cohort serves everyone.
      const rollout = rule.rollout && rule.mode === 'enforce' && rule.cohorts.control
        ? { percent: rule.rollout.stages[0].percent, stages: rule.rollout.stages.length, salt: rule.rollout.salt, control: rule.cohorts.control }
        : undefined;
      if (cohorts.length > 0) await writer.ensureGuarded(rule.featureId, cohorts, rollout);
    }
  };

  const needsSql = has(role, 'aggregator', 'verdict', 'flag-writer');
  const commandKeys = has(role, 'verdict', 'flag-writer') ? resolveCommandKeyRing(config, !dist.log).ring : undefined;
  const needsFlags = has(role, 'flag-writer');

  // --- infrastructure -------------------------------------------------------------------
  const infra: Component[] = [];
  // Every role reads or writes the log.
  const log: PartitionedLog = createLog(config, clock, logger);
  infra.push({
    name: 'log-topics',
    start: () => log.ensureTopics(topicSpecs(config, topics)),
    stop: async () => {},
  });
  let sql: SqlClient | undefined;
  let closeSql: (() => Promise<void>) | undefined;
  if (needsSql) {
    if (dist.store) {
      const pool = openPgPool(config.database, logger);
      sql = new PgSqlClient(pool);
      closeSql = once(() => pool.end());
    } else {
      const dir = join(config.dataDir, 'pglite');
      mkdirSync(dir, { recursive: true });
      const db = new PGlite(dir);
      sql = new PgliteSqlClient(db);
      closeSql = once(() => db.close());
    }
    const s = sql;
    infra.push({ name: 'migrations', start: async () => { await migrate(s, config.database.schema); }, stop: async () => {} });
  }
  let tableRetention: TableRetention | undefined;
  if (sql && (needsFlags || !dist.store)) {
    const r = config.database.retention;
    tableRetention = new TableRetention({
      sql, schema: config.database.schema, clock, trim: needsFlags,
      auditLogDays: r.auditLogDays, appliedCommandsDays: r.appliedCommandsDays, deliveredOutboxDays: r.deliveredOutboxDays,
      intervalMs: r.intervalMs, batchSize: r.batchSize, vacuumIntervalMs: dist.store ? undefined : r.pgliteVacuumIntervalMs,
      onError: (err, context) => logger.warn(context, { err }),
    });
    infra.push(tableRetention);
  }
  let redis: Redis | Cluster | undefined;
  if (needsFlags && dist.cache) {
    const nodes = config.redis.clusterNodes?.map((n) => ({ host: n.slice(0, n.lastIndexOf(':')), port: Number(n.slice(n.lastIndexOf(':') + 1)) }));
    redis = nodes
      ? new Cluster(nodes, { lazyConnect: true, enableOfflineQueue: false, redisOptions: { maxRetriesPerRequest: 2 } })
      : new Redis(config.redis.url!, { lazyConnect: true, maxRetriesPerRequest: 2, enableOfflineQueue: false });
    redis.on('error', (err) => logger.debug('redis connection error', { err: errorMessage(err) }));
    const r = redis;
    infra.push({ name: 'redis', start: async () => { await r.connect().catch((err) => logger.warn('Redis not reachable at start; the outbox relay will catch up', { err })); }, stop: async () => {} });
  }

  // --- roles -----------------------------------------------------------------------------
  const roles: Component[] = [];
  const producer = log.producer(`${config.kafka.clientId}-producer`);
  infra.push(producer);

  let flagRepo: FlagRepository | undefined;
  let flagWriter: FlagWriter | undefined;
  let relay: OutboxRelay | undefined;
  let commandConsumer: FlagCommandConsumer | undefined;
  if (needsFlags) {
    flagRepo = new FlagRepository(sql!, config.database.schema);
    const cache = redis ? new RedisFlagCache(redis, { keyPrefix: config.redis.keyPrefix }) : new InMemoryFlagCache();
    const { outbox, pinSweepIntervalMs } = config.flagWriter;
    relay = new OutboxRelay({
      repository: flagRepo,
      cache,
      clock,
      logger: logger.child('outbox-relay'),
      batchSize: outbox.batchSize,
      pollIntervalMs: outbox.pollIntervalMs,
      reconcileIntervalMs: outbox.reconcileIntervalMs,
      retry: { initialMs: outbox.retryInitialMs, maxMs: outbox.retryMaxMs },
    });
    flagWriter = new FlagWriter({ repository: flagRepo, relay, clock, logger: logger.child('flag-writer'), pinSweepIntervalMs });
    const writer = flagWriter;
    roles.push({ name: 'guarded-flags', start: () => registerGuardedFlags(writer), stop: async () => {} });
    roles.push(flagWriter);
    commandConsumer = new FlagCommandConsumer({
      log, writer: flagWriter, groupId: `${config.kafka.groupPrefix}.flag-writer`, topic: topics.commands,
      keyRing: commandKeys!, isDeclared: (feature) => rules.byFeature.has(feature), onError,
    });
    roles.push(commandConsumer);
    roles.push(new GuardedCohortRegistrar({
      log, groupId: `${config.kafka.groupPrefix}.cohort-registrar`, topic: topics.verdicts, rules: () => rules,
      ensureGuarded: (feature, cohorts) => writer.ensureGuarded(feature, cohorts), onError,
    }));
  }

  let verdictRunner: StatefulRunner | undefined;
  let history: VerdictHistory | undefined;
  let notifier: Notifier | undefined;
  if (has(role, 'verdict')) {
    history = new VerdictHistory(config.status.historyPoints);
    const n = config.notify;
    notifier = new Notifier({
      targets: webhookTargets(n.webhooks, rules),
      signingKey: loadSigningKey(n, (path) => readFileSync(path, 'utf8')),
      maxQueue: n.maxQueue,
      maxAttempts: n.maxAttempts,
      timeoutMs: n.timeoutMs,
      backoff: n.backoff,
      clock,
      logger: logger.child('notify'),
    });
    const feed = new VerdictFeed({ log, verdictsTopic: topics.verdicts, history, notifier, logger: logger.child('verdict-feed') });
    roles.push(notifier, feed);
    const evaluator = createEvaluator(config);
    verdictRunner = new StatefulRunner({
      name: 'verdict',
      log: log,
      producer,
      store: new SqlCheckpointStore(sql!, config.database.schema),
      factory: verdictProcessorFactory(
        topics, () => ({ ...verdictSettings(config), rules, evaluator }), commandKeys!, clock, config.verdict.partitionWaitSeconds * 1000, feed.observe,
      ),
      groupId: `${config.kafka.groupPrefix}.verdict`,
      inputTopic: topics.cohortStats,
      checkpointIntervalMs: config.aggregation.checkpointIntervalMs,
      publishIntervalMs: config.aggregation.publishIntervalMs,
      clock,
      onError,
    });
    roles.push(verdictRunner);
  }

  let aggregatorRunner: StatefulRunner | undefined;
  if (has(role, 'aggregator')) {
    aggregatorRunner = new StatefulRunner({
      name: 'aggregator',
      log: log,
      producer,
      store: new SqlCheckpointStore(sql!, config.database.schema),
      factory: aggregatorProcessorFactory(topics, verdictSettings(config).stepMs, () => ({ ...aggregatorSettings(config), rules })),
      groupId: `${config.kafka.groupPrefix}.aggregator`,
      inputTopic: topics.events,
      checkpointIntervalMs: config.aggregation.checkpointIntervalMs,
      publishIntervalMs: config.aggregation.publishIntervalMs,
      clock,
      onError,
    });
    roles.push(aggregatorRunner);
  }

  let receiver: OtlpReceiver | undefined;
  // Mutable so a rules reload can change which attributes the receiver projects.
  let attributeKeys = new Set<string>();
  const receiverMetrics = new ReceiverMetrics();
  if (has(role, 'receiver')) {
    const { key } = resolvePseudonymKey(config, !dist.log);
    attributeKeys = new Set(activationAttributeKeys(rules));
    const rc = config.receiver;
    receiver = new OtlpReceiver({
      grpc: rc.grpc,
      http: rc.httpEnabled ? rc.http : undefined,
      pseudonymizer: new Pseudonymizer(parseKeyRing(key)),
      sink: new LogEventSink(log, producer, topics.events, config.kafka.partitions, {
        markIdleMs: rc.markIdleMs, clock, metrics: receiverMetrics, logger: logger.child('receiver'),
      }, { lingerMs: rc.lingerMs }),
      attributeKeys,
      knownFeatures: rules.rules.map((r) => r.featureId),
      limits: {
        maxGrpcMessageBytes: rc.maxMessageBytes, maxHttpBodyBytes: rc.maxHttpBodyBytes, maxInFlightBytes: rc.maxInFlightBytes,
        maxValueLength: rc.maxAttributeLength, maxFeatures: rc.maxFeatures, maxCohortsPerFeature: rc.maxCohortsPerFeature,
        cardinalityIdleMs: rc.cardinalityIdleSeconds * 1000, maxDurationMs: rc.maxSpanDurationSeconds * 1000,
        maxRecordsPerRequest: rc.maxRecordsPerRequest, maxAttributesPerRequest: rc.maxAttributesPerRequest, maxJsonObjectsPerRequest: rc.maxJsonObjectsPerRequest,
        grpcMaxConcurrentStreams: rc.grpcMaxConcurrentStreams, grpcMaxSessionMemoryMiB: rc.grpcMaxSessionMemoryMiB,
        admissionWaitMs: rc.admissionWaitMs,
      },
      publishTimeoutMs: rc.publishTimeoutMs,
      retryAfterMs: rc.retryAfterSeconds * 1000,
      auth: loadBearerAuth(config.auth),
      tls: config.tls ? loadTlsMaterial(config.tls) : undefined,
      clock,
      metrics: receiverMetrics,
      logger: logger.child('receiver'),
      shutdownTimeoutMs: config.shutdownTimeoutMs,
    });
    roles.push(receiver);
    metrics.register(() => receiverMetrics.gaugeSamples());
  }

  // The history holds the published verdicts, read back from the topic at start: it answers after a restart too.
  const latestVerdicts = (feature: string, cohort?: string): Verdict[] => history?.latest(feature, cohort) ?? [];

  const report = async (period: { from?: number; to?: number }): Promise<Report> => {
    const builder = new ReportBuilder(period);
    if (log.readAll) {
      for await (const batch of log.readAll(topics.cohortStats)) {
        for (const r of batch.records) {
          try {
            for (const p of decodeCohortStats(r.value)) builder.add(p);
          } catch {
            // Undecodable records are counted by the verdict stage; the report skips them.
          }
        }
      }
    }
    return builder.build((f) => latestVerdicts(f), rules.rules.map((r) => r.featureId), config.report.engagementFloor);
  };

  // The admin API uses the listeners' auth and TLS (docs/contract.md).
  const bearerAuth = loadBearerAuth(config.auth);
  const admin = assembleAdminServer({
    config, dist, clock, logger, bearerAuth, rules: () => rules, topics, log, producer, metrics,
    sql, redis, flagRepo, flagWriter, relay, verdictRunner, history, latestVerdicts, report,
  });
  appMetrics(metrics, { rules: () => rules, receiver: receiverMetrics, log, aggregator: aggregatorRunner, verdict: verdictRunner, history, flagWriter, relay, tableRetention, commandConsumer, notifier, now: () => clock.now() });
  const processMonitor = processMetrics(metrics);

  const order = [...infra, ...roles];
  const started: Component[] = [];
  const app: App = {
    name: 'pmf-guard',
    config,
    topics,
    receiverPort: () => receiver?.port,
    receiverHttpPort: () => receiver?.httpPort,
    adminPort: () => admin.port,
    latestVerdicts,
    setRules(next: RuleSet) {
      // Reloads run one at a time. Guarded flag rows are registered before the rules take effect,
      // so a store outage refuses the reload as a whole instead of leaving it half in force.
      const run = reloads.then(async () => {
        if (flagWriter) await registerGuardedFlags(flagWriter, next);
        rules = next;
        receiver?.cardinality.addKnownFeatures(next.rules.map((r) => r.featureId));
        attributeKeys.clear();
        for (const k of activationAttributeKeys(next)) attributeKeys.add(k);
        for (const p of aggregatorRunner?.processors().values() ?? []) (p as AggregatorProcessor).aggregator.setRules(next);
        for (const p of verdictRunner?.processors().values() ?? []) (p as VerdictProcessor).engine.setRules(next);
        notifier?.setTargets(webhookTargets(config.notify.webhooks, next));
        logger.info('rules in force', { rules: next.version, features: next.rules.length });
      });
      reloads = run.catch(() => undefined);
      return run;
    },
    async start() {
      for (const warning of securityWarnings(config)) logger.warn(warning);
      logger.info('starting', {
        role, log: dist.log ? 'kafka' : 'embedded', store: dist.store ? 'postgresql' : 'pglite', cache: dist.cache ? 'redis' : 'none', rules: rules.version,
        // Where it listens and what it writes, so a first run shows what is exposed and where the data goes.
        adminListen: `${config.admin.host}:${config.admin.port}`,
        ...(receiver ? { otlpGrpcListen: `${config.receiver.grpc.host}:${config.receiver.grpc.port}`, otlpHttpListen: config.receiver.httpEnabled ? `${config.receiver.http.host}:${config.receiver.http.port}` : 'off' } : {}),
        ...(!dist.log || (needsSql && !dist.store) ? { dataDir: resolve(config.dataDir) } : {}),
        auth: bearerAuth ? 'on' : 'off',
      });
      // Components are recorded as they start, so a failed start (or a SIGTERM during it) stops
      // exactly what runs and closes the log, store and Redis connections.
      try {
        await admin.start();
        for (const c of order) {
          await c.start();
          started.push(c);
        }
      } catch (err) {
        await app.stop().catch((stopErr) => onError(stopErr, 'cleaning up after a failed start'));
        throw err;
      }
      logger.info('started', {
        adminUrl: `${config.tls ? 'https' : 'http'}://${config.admin.host}:${admin.port}/status`,
        otlpGrpc: receiver ? `${config.receiver.grpc.host}:${receiver.port}` : undefined,
        otlpHttp: receiver?.httpPort !== undefined ? `${config.receiver.http.host}:${receiver.httpPort}` : undefined,
        otlpGrpcPort: receiver?.port, otlpHttpPort: receiver?.httpPort, adminPort: admin.port,
      });
    },
    stop: once(async () => {
      logger.info('stopping');
      try {
        await stopAll([...started].reverse());
      } finally {
        await log.close().catch((err) => onError(err, 'closing log'));
        await closeSql?.().catch((err) => onError(err, 'closing store'));
        redis?.disconnect();
        await admin.stop();
        processMonitor.stop();
      }
      logger.info('stopped');
    }),
  };
  return app;
}

function activationAttributeKeys(rules: RuleSet): string[] {
  return rules.rules.flatMap((r) => (r.activation.action?.attribute ? [r.activation.action.attribute.key] : []));
}
