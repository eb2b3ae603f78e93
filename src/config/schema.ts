// The one configuration schema. Parsed once at start-up (config/load.ts), then frozen.
// Defaults describe the embedded mode: nothing to install, everything in one process. Each default
// is written once, on its field: objects use prefault({}) so their fields' defaults fill them, and
// components used standalone (tests, the client) read configDefaults instead of repeating numbers.

import { z } from 'zod';
import { WebhookTarget } from '../rules/webhook-target.js';

const port = z.number().int().min(0).max(65_535);
/** kafkajs' retry policy: attempts after the first, from the initial delay doubling up to the maximum. */
const kafkaRetry = (retries: number, initialRetryTime: number, maxRetryTime: number) =>
  z
    .object({
      retries: z.number().int().min(0).default(retries),
      initialRetryTime: z.number().int().positive().default(initialRetryTime),
      maxRetryTime: z.number().int().positive().default(maxRetryTime),
    })
    .strict()
    .prefault({});
/**
 * A listener's host is optional here: the transform at the end of the schema fills it with
 * LOOPBACK_HOST, or ANY_HOST when auth is configured. A host given explicitly is kept; a
 * non-loopback one without auth is reported by securityWarnings (config/security-warnings.ts).
 */
const listener = (defaultPort: number) =>
  z
    .object({
      host: z.string().min(1).optional(),
      port: port.default(defaultPort),
    })
    .strict();
const DAY_MS = 86_400_000;
const retention = z.number().int().min(-1).refine((v) => v !== 0, 'retention.ms is -1 (forever) or a positive number of ms');
export const LOOPBACK_HOST = '127.0.0.1';
export const ANY_HOST = '0.0.0.0';

const HOUR_MS = 3_600_000;
const MIB = 1024 * 1024;

/** One embedded-log topic's retention; null = that limit off. Records go a whole segment at a time. */
const topicRetention = (d: { retentionMs: number | null; retentionBytes: number | null; segmentBytes: number }) => {
  return z
    .object({
      /** Segments whose newest record is older than this are deleted. */
      retentionMs: z.number().int().positive().nullable().default(d.retentionMs),
      /** Oldest segments are deleted while the topic (all partitions) is larger than this. */
      retentionBytes: z.number().int().positive().nullable().default(d.retentionBytes),
      /** A partition starts a new segment at this size... */
      segmentBytes: z.number().int().min(4096).default(d.segmentBytes),
      /** ...or when its current one is this old, so quiet topics age out too. */
      segmentMs: z.number().int().positive().default(HOUR_MS),
    })
    .strict()
    .prefault({});
};

export const Config = z
  .object({
    role: z.enum(['receiver', 'aggregator', 'verdict', 'flag-writer', 'all']).default('all'),
    /** Rules file (YAML or JSON); also PMF_GUARD_RULES or --rules. */
    rulesFile: z.string().min(1).optional(),
    /** Embedded mode keeps its log, store and generated key here. */
    dataDir: z.string().min(1).default('.data'),
    logLevel: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
    receiver: z
      .object({
        grpc: listener(4317).prefault({}),
        /** OTLP/HTTP (protobuf and JSON); `httpEnabled: false` turns it off. */
        http: listener(4318).prefault({}),
        httpEnabled: z.boolean().default(true),
        /** gRPC message limit after decompression (the spec's typical 4 MiB). */
        maxMessageBytes: z.number().int().positive().default(4 * 1024 * 1024),
        /** HTTP body limit after decompression (the spec's recommended 20 MiB). */
        maxHttpBodyBytes: z.number().int().positive().default(20 * 1024 * 1024),
        /** Request bytes held between arrival and the log ack, both listeners together; over it: retryable refusals. */
        maxInFlightBytes: z.number().int().positive().default(64 * 1024 * 1024),
        /** Longest wait for the log's ack before answering retryable (UNAVAILABLE / 503). */
        publishTimeoutMs: z.number().int().positive().default(5000),
        /** Delay suggested to clients with retryable answers (Retry-After, google.rpc.RetryInfo). */
        retryAfterSeconds: z.number().int().positive().default(1),
        maxAttributeLength: z.number().int().positive().default(256),
        /** Distinct feature keys admitted besides the rules' own; more are dropped and counted. */
        maxFeatures: z.number().int().positive().default(1000),
        /** Distinct variants admitted per feature; more are dropped and counted. */
        maxCohortsPerFeature: z.number().int().positive().default(100),
        /** Cardinality guard memory: a feature or variant not seen for this long is forgotten (its slot freed). */
        cardinalityIdleSeconds: z.number().int().positive().default(86_400),
        /** Longest span duration taken as a latency; a longer span counts without one (duration_out_of_range). */
        maxSpanDurationSeconds: z.number().int().positive().default(3600),
        /** Spans or log records per request; a request with more is refused (400 / INVALID_ARGUMENT). */
        maxRecordsPerRequest: z.number().int().positive().default(20_000),
        /** Attributes per request, nested values and span events included; more: refused like the above. */
        maxAttributesPerRequest: z.number().int().positive().default(400_000),
        /** Objects in an OTLP/JSON body, counted before parsing (a parse cannot be sliced); more: refused. */
        maxJsonObjectsPerRequest: z.number().int().positive().default(50_000),
        /** Concurrent gRPC calls per connection (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS). */
        grpcMaxConcurrentStreams: z.number().int().positive().default(100),
        /** HTTP/2 session memory per gRPC connection, in MiB, before new streams are refused. */
        grpcMaxSessionMemoryMiB: z.number().int().positive().default(10),
        /**
         * HMAC key for user ids; prefer PMF_GUARD_PSEUDONYM_KEY or pseudonymKeyFile over this field.
         * Several keys, one per line, newest first, form a rotation ring (see receiver/pseudonymizer.ts).
         */
        pseudonymKey: z.string().min(16, 'pseudonymKey must be at least 16 characters').optional(),
        pseudonymKeyFile: z.string().min(1).optional(),
      })
      .strict()
      .prefault({}),
    /** Bearer-token auth on the OTLP listeners (and the admin API); absent = off. */
    auth: z
      .object({
        /** Prefer bearerTokenFile or the environment over a token in a config file. */
        bearerToken: z.string().min(16, 'bearerToken must be at least 16 characters').optional(),
        /** One token per line (several = rotation); # comments and blank lines ignored. */
        bearerTokenFile: z.string().min(1).optional(),
      })
      .strict()
      .optional(),
    /** TLS for the OTLP listeners (and the admin API); with clientCaFile, clients need a certificate (mTLS). */
    tls: z
      .object({
        certFile: z.string().min(1),
        keyFile: z.string().min(1),
        clientCaFile: z.string().min(1).optional(),
      })
      .strict()
      .optional(),
    /** Admin API; binds like the OTLP listeners (loopback unless auth is set or a host is given). */
    admin: listener(8080).prefault({}),
    kafka: z
      .object({
        /** Set (or KAFKA_BROKERS) to use Apache Kafka instead of the embedded log. */
        brokers: z.array(z.string().regex(/^[^:\s]+:\d+$/, 'a broker is host:port, e.g. 127.0.0.1:9092')).min(1).optional(),
        clientId: z.string().min(1).default('pmf-guard'),
        topicPrefix: z.string().regex(/^[A-Za-z0-9._-]*$/, 'topicPrefix may only use letters, digits, ".", "_" and "-"').default('pmf.'),
        /** Partitions of pmf.events.v2 when pmf-guard creates it; the other topics get the same. */
        partitions: z.number().int().positive().default(6),
        /** Copies of each partition of the topics pmf-guard creates; a smaller cluster gets as many as it has brokers, with a warning. */
        replicationFactor: z.number().int().positive().default(3),
        /** min.insync.replicas of created topics: an acks=all write needs this many copies (kept below the replication factor). */
        minInsyncReplicas: z.number().int().positive().default(2),
        /** retention.ms of each topic pmf-guard creates (-1 = forever); existing topics that differ are reported at start. */
        retentionMs: z
          .object({
            // Events and cohort stats outlive the longest evaluation (14 days by default);
            // verdicts and commands are the audit trail.
            events: retention.default(14 * DAY_MS),
            cohortStats: retention.default(14 * DAY_MS),
            verdicts: retention.default(30 * DAY_MS),
            commands: retention.default(30 * DAY_MS),
          })
          .strict()
          .prefault({}),
        groupPrefix: z.string().min(1).default('pmf-guard'),
        /** How long a silent member keeps its partitions; lower fails over faster after a crash. */
        sessionTimeoutMs: z.number().int().min(6000).default(30_000),
        /** Also bounds how fast members notice a rebalance. */
        heartbeatIntervalMs: z.number().int().positive().default(1000),
        /** Longest a fetch waits for data; an idle member notices a rebalance at its next heartbeat after that. */
        maxWaitTimeMs: z.number().int().positive().default(1000),
        /** Most records per batch handed to a stage; larger fetches are split. */
        maxBatchSize: z.number().int().positive().default(500),
        /** A send rejects with a retryable ERR_LOG_UNAVAILABLE after this long without an ack. */
        sendTimeoutMs: z.number().int().positive().default(5000),
        /** TCP connect timeout per broker. */
        connectionTimeoutMs: z.number().int().positive().default(1000),
        requestTimeoutMs: z.number().int().positive().default(10_000),
        /** Health checks give up on the broker after this long. */
        pingTimeoutMs: z.number().int().positive().default(2000),
        /** Producer and admin calls: short, so a down broker surfaces quickly. */
        producerRetry: kafkaRetry(3, 100, 1000),
        /**
         * Consumers: patient (about 25 s in all), so a consumer rides out a short broker outage without
         * crashing (a crash re-joins as a new member, which waits for the old member's session to expire).
         */
        consumerRetry: kafkaRetry(8, 300, 5000),
        /** TLS to the brokers (`tls: {}` = system CAs); with certFile/keyFile the client authenticates by certificate. */
        tls: z
          .object({
            caFile: z.string().min(1).optional(),
            certFile: z.string().min(1).optional(),
            keyFile: z.string().min(1).optional(),
            /** Name checked in the brokers' certificates, when it differs from the broker host. */
            servername: z.string().min(1).optional(),
            rejectUnauthorized: z.boolean().default(true),
          })
          .strict()
          .optional(),
        /** SASL authentication; the password from passwordFile or PMF_GUARD_KAFKA_SASL_PASSWORD(_FILE), not a config file. */
        sasl: z
          .object({
            mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']),
            username: z.string().min(1),
            password: z.string().min(1).optional(),
            passwordFile: z.string().min(1).optional(),
          })
          .strict()
          .optional(),
      })
      .strict()
      .prefault({}),
    /**
     * Commands on pmf.commands.v1 carry an HMAC; the flag writer applies only those signed by a key
     * of this ring (one key per line, newest first: new commands use the first, any verifies).
     * Every verdict and flag-writer process shares it. Embedded mode derives it from the
     * pseudonymisation key unless one is set.
     */
    commands: z
      .object({
        /** Prefer signingKeyFile or PMF_GUARD_COMMAND_KEY_FILE over a key in a config file. */
        signingKey: z.string().min(16, 'commands.signingKey must be at least 16 characters').optional(),
        signingKeyFile: z.string().min(1).optional(),
      })
      .strict()
      .prefault({}),
    database: z
      .object({
        /** Set (or DATABASE_URL) to use PostgreSQL instead of embedded PGlite. */
        url: z.string().regex(/^postgres(ql)?:\/\//, 'database.url must start with postgres:// or postgresql://').optional(),
        schema: z.string().regex(/^[a-z_][a-z0-9_]*$/, 'database.schema must be a lower-case SQL identifier').default('pmf_guard'),
        /** Trimming of the flag store's history tables (PostgreSQL and PGlite), by the flag-writer role. */
        retention: z
          .object({
            /** Who changed which flag and why: kept longest. */
            auditLogDays: z.number().positive().default(365),
            /** Command ids already applied (idempotency): must outlive any re-delivery of a command. */
            appliedCommandsDays: z.number().positive().default(90),
            /** Outbox rows already delivered to the cache (pending rows are never trimmed). */
            deliveredOutboxDays: z.number().positive().default(7),
            /** How often the trim runs (injected clock). */
            intervalMs: z.number().int().positive().default(HOUR_MS),
            /** Rows deleted per statement, so a large backlog never holds a long lock. */
            batchSize: z.number().int().positive().default(5000),
            /** Embedded PGlite has no autovacuum: VACUUM and CHECKPOINT this often (checkpoints rewrite rows every second). */
            pgliteVacuumIntervalMs: z.number().int().positive().default(60_000),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    redis: z
      .object({
        /** Set (or REDIS_URL) to publish flags to Redis; embedded mode keeps an in-process cache. */
        url: z.string().regex(/^rediss?:\/\//, 'redis.url must start with redis:// or rediss://').optional(),
        /** Redis Cluster seed nodes (or REDIS_CLUSTER_NODES=host:port,…), instead of url. */
        clusterNodes: z.array(z.string().regex(/^[^:\s]+:\d+$/, 'a cluster node is host:port, e.g. 127.0.0.1:7000')).min(1).optional(),
        /** Prefix for every key and channel; empty in production (the contract's names), set in tests. */
        keyPrefix: z.string().default(''),
      })
      .strict()
      .prefault({}),
    aggregation: z
      .object({
        /** The watermark trails the slowest live source's newest event time by this much. */
        allowedLatenessSeconds: z.number().int().min(0).default(300),
        /** Late data for a window is still applied until the watermark passes the window's end + this. */
        lateGraceSeconds: z.number().int().min(0).default(21_600),
        /** Events older than watermark − this are refused (counted). Default: the longest rule window + lateGraceSeconds. */
        maxLatenessSeconds: z.number().int().positive().optional(),
        /** A source (service) silent while its partition's newest event time moves this much on stops holding the watermark. */
        sourceIdleSeconds: z.number().int().positive().default(300),
        /** A checkpoint (state + offsets, atomically) at least this often. */
        checkpointIntervalMs: z.number().int().positive().default(1000),
        /**
         * Aggregator partials and verdict-stage outputs are published at least this often, between
         * checkpoints (a rollback command at once): this bounds the span → flag loop, not the checkpoints.
         */
        publishIntervalMs: z.number().int().positive().default(200),
        /** Ids remembered per partition for dedupe; past it the oldest arrivals are forgotten (counted). */
        maxDedupeEntries: z.number().int().positive().default(1_000_000),
        /** Eviction markers kept per partition (users whose windows closed); past it the oldest go (counted). */
        maxRetiredUsers: z.number().int().positive().default(5_000_000),
        maxCohortsPerFeature: z.number().int().positive().default(64),
      })
      .strict()
      .prefault({}),
    flagWriter: z
      .object({
        /** Expired pins are ended this often (0: never, someone calls expirePins). */
        pinSweepIntervalMs: z.number().int().min(0).default(5000),
        /** The relay from the PostgreSQL outbox to Redis. */
        outbox: z
          .object({
            /** Outbox rows read per round trip. */
            batchSize: z.number().int().positive().default(100),
            /** While started, also sweep the outbox this often, for rows other processes left (0: never). */
            pollIntervalMs: z.number().int().min(0).default(5000),
            /**
             * Also reconcile all of Redis from PostgreSQL this often (0: only at start and after a failure):
             * catches a Redis that restarted empty between two writes, which no outbox row would repair.
             */
            reconcileIntervalMs: z.number().int().min(0).default(60_000),
            /** After a failed run, retry after this long, doubling up to retryMaxMs. */
            retryInitialMs: z.number().int().positive().default(100),
            retryMaxMs: z.number().int().positive().default(30_000),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    /** The embedded log (no Kafka configured): durability and how long each topic is kept. */
    embedded: z
      .object({
        /**
         * always: each send is fdatasync'd before it is acknowledged (concurrent sends share one);
         * nothing acknowledged is lost, even to a power cut. interval: synced every fsyncIntervalMs;
         * a power cut or kernel crash loses up to that window. never: the OS writes back (about 30 s
         * on Linux). A crash of the process alone loses nothing acknowledged under any policy.
         */
        fsync: z.enum(['always', 'interval', 'never']).default('always'),
        fsyncIntervalMs: z.number().int().positive().default(1000),
        /** How often retention and compaction run (injected clock). */
        retentionCheckIntervalMs: z.number().int().positive().default(60_000),
        topics: z
          .object({
            /** Raw feature events: what replay reads. */
            events: topicRetention({ retentionMs: 14 * DAY_MS, retentionBytes: 2048 * MIB, segmentBytes: 64 * MIB }),
            /** Cumulative snapshots: compacted to the newest per (feature, source partition) below every group's commit. */
            cohortStats: topicRetention({ retentionMs: null, retentionBytes: 256 * MIB, segmentBytes: 16 * MIB }),
            verdicts: topicRetention({ retentionMs: 30 * DAY_MS, retentionBytes: 512 * MIB, segmentBytes: 16 * MIB }),
            commands: topicRetention({ retentionMs: 30 * DAY_MS, retentionBytes: 64 * MIB, segmentBytes: 4 * MIB }),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    verdict: z
      .object({
        /** Unchanged verdicts are re-published after this much EVENT time (deterministic: replays match). */
        heartbeatSeconds: z.number().int().positive().default(60),
        /** Verdicts are evaluated each time the merged watermark crosses a multiple of this (event time). */
        stepSeconds: z.number().int().positive().default(60),
        /**
         * Wall-clock seconds the verdict stage waits, after it starts, for every partition of the
         * events topic to report before judging without the silent ones (a partition with no data).
         */
        partitionWaitSeconds: z.number().int().positive().default(60),
        evaluator: z.enum(['sequential', 'point-estimate']).default('sequential'),
      })
      .strict()
      .prefault({}),
    shutdownTimeoutMs: z.number().int().positive().default(10_000),
    /** The status page and per-cohort metrics: how many verdict points each cohort's chart keeps. */
    status: z
      .object({ historyPoints: z.number().int().min(2).max(100_000).default(500) })
      .strict()
      .default({ historyPoints: 500 }),
    /** Webhooks on outcome changes, rollbacks and holds (global; rules may add their own). */
    notify: z
      .object({
        webhooks: z.array(WebhookTarget).default([]),
        /** HMAC-SHA256 key for the signature header; prefer signingKeyFile or PMF_GUARD_WEBHOOK_SIGNING_KEY. */
        signingKey: z.string().min(16, 'notify.signingKey must be at least 16 characters').optional(),
        signingKeyFile: z.string().min(1).optional(),
        /** Notifications waiting per webhook; past it they are dropped and counted (never blocking verdicts). */
        maxQueue: z.number().int().positive().default(1000),
        /** Attempts per notification (the first plus retries) before giving up, logged and counted. */
        maxAttempts: z.number().int().positive().default(12),
        timeoutMs: z.number().int().positive().default(5000),
        backoff: z
          .object({ initialMs: z.number().int().positive().default(500), maxMs: z.number().int().positive().default(60_000) })
          .strict()
          .default({ initialMs: 500, maxMs: 60_000 }),
      })
      .strict()
      .default({ webhooks: [], maxQueue: 1000, maxAttempts: 12, timeoutMs: 5000, backoff: { initialMs: 500, maxMs: 60_000 } }),
    /** The zombie-feature report. */
    report: z
      .object({
        /**
         * A feature whose activation rate over the period is below this is marked zombie: it is
         * exposed (and costs span time) but almost nobody uses it.
         */
        engagementFloor: z.number().min(0).max(1).default(0.02),
      })
      .strict()
      .default({ engagementFloor: 0.02 }),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.receiver.pseudonymKey && c.receiver.pseudonymKeyFile) {
      ctx.addIssue({ code: 'custom', path: ['receiver', 'pseudonymKeyFile'], message: 'set pseudonymKey or pseudonymKeyFile, not both' });
    }
    if (c.admin.port !== 0 && c.admin.port === c.receiver.grpc.port) {
      ctx.addIssue({ code: 'custom', path: ['admin', 'port'], message: `admin.port and receiver.grpc.port are both ${c.admin.port}: pick two ports` });
    }
    if (c.receiver.httpEnabled && c.receiver.http.port !== 0) {
      for (const [name, p] of [['receiver.grpc.port', c.receiver.grpc.port], ['admin.port', c.admin.port]] as const) {
        if (p === c.receiver.http.port) ctx.addIssue({ code: 'custom', path: ['receiver', 'http', 'port'], message: `receiver.http.port and ${name} are both ${p}: pick two ports` });
      }
    }
    const largest = Math.max(c.receiver.maxMessageBytes, c.receiver.httpEnabled ? c.receiver.maxHttpBodyBytes : 0);
    if (c.receiver.maxInFlightBytes < largest) {
      ctx.addIssue({ code: 'custom', path: ['receiver', 'maxInFlightBytes'], message: `receiver.maxInFlightBytes (${c.receiver.maxInFlightBytes}) must be at least the largest request limit (${largest}), or such requests could never be admitted` });
    }
    if (c.kafka.brokers && !c.database.url && ['aggregator', 'verdict', 'all'].includes(c.role)) {
      // Checkpoints must be shared by every member of the consumer group: a partition that moves
      // to an instance with its own embedded store would resume with empty state.
      ctx.addIssue({ code: 'custom', path: ['database', 'url'], message: `with Kafka, the ${c.role} role keeps its checkpoints in PostgreSQL: set DATABASE_URL (or database.url)` });
    }
    if (c.redis.url && c.redis.clusterNodes) {
      ctx.addIssue({ code: 'custom', path: ['redis', 'clusterNodes'], message: 'set redis.url (one node) or redis.clusterNodes (a cluster), not both' });
    }
    if (c.notify.signingKey && c.notify.signingKeyFile) {
      ctx.addIssue({ code: 'custom', path: ['notify', 'signingKeyFile'], message: 'set notify.signingKey or notify.signingKeyFile, not both' });
    }
    const r = c.database.retention;
    if (r.auditLogDays < r.appliedCommandsDays || r.auditLogDays < r.deliveredOutboxDays) {
      ctx.addIssue({ code: 'custom', path: ['database', 'retention', 'auditLogDays'], message: `the audit log is kept longest: auditLogDays (${r.auditLogDays}) must be at least appliedCommandsDays and deliveredOutboxDays` });
    }
    const commandsMs = c.embedded.topics.commands.retentionMs;
    if (!c.kafka.brokers && commandsMs !== null && r.appliedCommandsDays * DAY_MS < commandsMs) {
      // A command still on the log can be delivered again; its id must still be known then.
      ctx.addIssue({ code: 'custom', path: ['database', 'retention', 'appliedCommandsDays'], message: `appliedCommandsDays (${r.appliedCommandsDays}) must cover embedded.topics.commands.retentionMs (${commandsMs / DAY_MS} days)` });
    }
    const kafkaCommandsMs = c.kafka.retentionMs.commands;
    if (c.kafka.brokers && kafkaCommandsMs > 0 && r.appliedCommandsDays * DAY_MS < kafkaCommandsMs) {
      ctx.addIssue({ code: 'custom', path: ['database', 'retention', 'appliedCommandsDays'], message: `appliedCommandsDays (${r.appliedCommandsDays}) must cover kafka.retentionMs.commands (${kafkaCommandsMs / DAY_MS} days)` });
    }
    const k = c.kafka;
    if (k.minInsyncReplicas > k.replicationFactor) {
      ctx.addIssue({ code: 'custom', path: ['kafka', 'minInsyncReplicas'], message: `kafka.minInsyncReplicas (${k.minInsyncReplicas}) must be at most kafka.replicationFactor (${k.replicationFactor})` });
    }
    if (k.tls && (k.tls.certFile === undefined) !== (k.tls.keyFile === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['kafka', 'tls'], message: 'kafka.tls needs certFile and keyFile together (a client certificate and its key), or neither' });
    }
    if (k.sasl && !k.sasl.password === !k.sasl.passwordFile) {
      ctx.addIssue({ code: 'custom', path: ['kafka', 'sasl'], message: 'kafka.sasl needs exactly one of password or passwordFile (PMF_GUARD_KAFKA_SASL_PASSWORD_FILE)' });
    }
    if (c.commands.signingKey && c.commands.signingKeyFile) {
      ctx.addIssue({ code: 'custom', path: ['commands', 'signingKeyFile'], message: 'set commands.signingKey or commands.signingKeyFile, not both' });
    }
    if (k.brokers && ['verdict', 'flag-writer', 'all'].includes(c.role) && !c.commands.signingKey && !c.commands.signingKeyFile) {
      // Anyone who can write to the commands topic could otherwise switch flags.
      ctx.addIssue({
        code: 'custom', path: ['commands', 'signingKeyFile'],
        message: `with Kafka, the ${c.role} role signs or checks flag commands: set PMF_GUARD_COMMAND_KEY_FILE (e.g. \`openssl rand -hex 32 > command.key\`), the same file for every verdict and flag-writer process`,
      });
    }
    if (c.auth && !c.auth.bearerToken && !c.auth.bearerTokenFile) {
      ctx.addIssue({ code: 'custom', path: ['auth'], message: 'auth needs bearerToken or bearerTokenFile' });
    }
  })
  .transform((c) => {
    // Secure by default: without auth nothing is reachable from the network unless asked for.
    const host = c.auth ? ANY_HOST : LOOPBACK_HOST;
    const bind = <L extends { host?: string; port: number }>(l: L) => ({ ...l, host: l.host ?? host });
    return { ...c, receiver: { ...c.receiver, grpc: bind(c.receiver.grpc), http: bind(c.receiver.http) }, admin: bind(c.admin) };
  });

export type Config = z.infer<typeof Config>;
export type ConfigInput = z.input<typeof Config>;
export type Role = Config['role'];

export function isDistributed(c: Config): { log: boolean; store: boolean; cache: boolean } {
  return { log: c.kafka.brokers !== undefined, store: c.database.url !== undefined, cache: c.redis.url !== undefined || c.redis.clusterNodes !== undefined };
}

/** Every default, parsed from an empty input: what a component uses when no config is given. */
export const configDefaults: Config = Object.freeze(Config.parse({}));
