// The one configuration schema. Parsed once at start-up (config/load.ts), then frozen.
// Defaults describe the embedded mode: nothing to install, everything in one process.

import { z } from 'zod';

const port = z.number().int().min(0).max(65_535);
const listener = (defaultPort: number) =>
  z
    .object({
      host: z.string().min(1).default('0.0.0.0'),
      port: port.default(defaultPort),
    })
    .strict();

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
        grpc: listener(4317).default({ host: '0.0.0.0', port: 4317 }),
        maxMessageBytes: z.number().int().positive().default(4 * 1024 * 1024),
        maxAttributeLength: z.number().int().positive().default(256),
        /** HMAC key for user ids; prefer PMF_GUARD_PSEUDONYM_KEY or pseudonymKeyFile over this field. */
        pseudonymKey: z.string().min(16, 'pseudonymKey must be at least 16 characters').optional(),
        pseudonymKeyFile: z.string().min(1).optional(),
      })
      .strict()
      .default({ grpc: { host: '0.0.0.0', port: 4317 }, maxMessageBytes: 4 * 1024 * 1024, maxAttributeLength: 256 }),
    admin: listener(8080).default({ host: '0.0.0.0', port: 8080 }),
    kafka: z
      .object({
        /** Set (or KAFKA_BROKERS) to use Apache Kafka instead of the embedded log. */
        brokers: z.array(z.string().regex(/^[^:\s]+:\d+$/, 'a broker is host:port, e.g. 127.0.0.1:9092')).min(1).optional(),
        clientId: z.string().min(1).default('pmf-guard'),
        topicPrefix: z.string().regex(/^[A-Za-z0-9._-]*$/, 'topicPrefix may only use letters, digits, ".", "_" and "-"').default('pmf.'),
        /** Partitions of pmf.events.v1 when pmf-guard creates it; the other topics get the same. */
        partitions: z.number().int().positive().default(6),
        replicationFactor: z.number().int().positive().default(1),
        groupPrefix: z.string().min(1).default('pmf-guard'),
      })
      .strict()
      .default({ clientId: 'pmf-guard', topicPrefix: 'pmf.', partitions: 6, replicationFactor: 1, groupPrefix: 'pmf-guard' }),
    database: z
      .object({
        /** Set (or DATABASE_URL) to use PostgreSQL instead of embedded PGlite. */
        url: z.string().regex(/^postgres(ql)?:\/\//, 'database.url must start with postgres:// or postgresql://').optional(),
        schema: z.string().regex(/^[a-z_][a-z0-9_]*$/, 'database.schema must be a lower-case SQL identifier').default('pmf_guard'),
      })
      .strict()
      .default({ schema: 'pmf_guard' }),
    redis: z
      .object({
        /** Set (or REDIS_URL) to publish flags to Redis; embedded mode keeps an in-process cache. */
        url: z.string().regex(/^rediss?:\/\//, 'redis.url must start with redis:// or rediss://').optional(),
        /** Prefix for every key and channel; empty in production (the contract's names), set in tests. */
        keyPrefix: z.string().default(''),
      })
      .strict()
      .default({ keyPrefix: '' }),
    aggregation: z
      .object({
        allowedLatenessSeconds: z.number().int().min(0).default(300),
        dedupeWindowSeconds: z.number().int().positive().default(3600),
        /** A checkpoint (state + offsets, atomically) at least this often, and partials published with it. */
        checkpointIntervalMs: z.number().int().positive().default(1000),
        maxCohortsPerFeature: z.number().int().positive().default(64),
      })
      .strict()
      .default({ allowedLatenessSeconds: 300, dedupeWindowSeconds: 3600, checkpointIntervalMs: 1000, maxCohortsPerFeature: 64 }),
    verdict: z
      .object({
        /** Unchanged verdicts are re-published this often (wall clock) as a heartbeat. */
        heartbeatSeconds: z.number().int().positive().default(60),
        evaluator: z.enum(['sequential', 'point-estimate']).default('sequential'),
      })
      .strict()
      .default({ heartbeatSeconds: 60, evaluator: 'sequential' }),
    shutdownTimeoutMs: z.number().int().positive().default(10_000),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.receiver.pseudonymKey && c.receiver.pseudonymKeyFile) {
      ctx.addIssue({ code: 'custom', path: ['receiver', 'pseudonymKeyFile'], message: 'set pseudonymKey or pseudonymKeyFile, not both' });
    }
    if (c.admin.port !== 0 && c.admin.port === c.receiver.grpc.port) {
      ctx.addIssue({ code: 'custom', path: ['admin', 'port'], message: `admin.port and receiver.grpc.port are both ${c.admin.port}: pick two ports` });
    }
  });

export type Config = z.infer<typeof Config>;
export type ConfigInput = z.input<typeof Config>;
export type Role = Config['role'];

export function isDistributed(c: Config): { log: boolean; store: boolean; cache: boolean } {
  return { log: c.kafka.brokers !== undefined, store: c.database.url !== undefined, cache: c.redis.url !== undefined };
}
