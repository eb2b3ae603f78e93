// The storage sections of the configuration schema: PostgreSQL (or embedded PGlite), Redis and
// the flag writer that uses both. Composed into Config by schema.ts.

import { z } from 'zod';
import { HOUR_MS } from './schema-fields.js';

export const databaseSection = z
  .object({
    /** Set (or DATABASE_URL) to use PostgreSQL instead of embedded PGlite. */
    url: z.string().regex(/^postgres(ql)?:\/\//, 'database.url must start with postgres:// or postgresql://').optional(),
    schema: z.string().regex(/^[a-z_][a-z0-9_]*$/, 'database.schema must be a lower-case SQL identifier').default('pmf_guard'),
    /**
     * PostgreSQL ends a session idle this long inside a transaction, releasing its locks: a member
     * frozen mid-save must not hold the checkpoint rows its successor writes. Below
     * kafka.sessionTimeoutMs, so the rows are free by the time its partitions move.
     */
    idleInTransactionTimeoutMs: z.number().int().min(1000).default(15_000),
    /**
     * A statement waiting this long for a lock fails, retryably (0: the server's setting): a
     * checkpoint save behind a live but stuck session's row lock is retried at the next flush
     * instead of waiting without bound. Below kafka.sessionTimeoutMs.
     */
    lockTimeoutMs: z.number().int().nonnegative().default(5000),
    /**
     * A statement running this long fails, retryably (0: the server's setting). Below
     * kafka.sessionTimeoutMs: a stage's consumer does not heartbeat while it waits for its store.
     * Migrations and checkpoint loads (a restore reads its whole state in one statement; the stage
     * heartbeats meanwhile) are exempt.
     */
    statementTimeoutMs: z.number().int().nonnegative().default(20_000),
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
  .prefault({});

export const redisSection = z
  .object({
    /** Set (or REDIS_URL) to publish flags to Redis; embedded mode keeps an in-process cache. */
    url: z.string().regex(/^rediss?:\/\//, 'redis.url must start with redis:// or rediss://').optional(),
    /** Redis Cluster seed nodes (or REDIS_CLUSTER_NODES=host:port,…), instead of url. */
    clusterNodes: z.array(z.string().regex(/^[^:\s]+:\d+$/, 'a cluster node is host:port, e.g. 127.0.0.1:7000')).min(1).optional(),
    /** Prefix for every key and channel; empty in production (the contract's names), set in tests. */
    keyPrefix: z.string().default(''),
  })
  .strict()
  .prefault({});

export const flagWriterSection = z
  .object({
    /** Expired pins are ended this often (0: never, someone calls expirePins). */
    pinSweepIntervalMs: z.number().int().min(0).default(5000),
    /** The relay from the PostgreSQL outbox to Redis. */
    outbox: z
      .object({
        /** Outbox rows read per round trip; also rows sent straight to Redis that are marked published in one statement. */
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
  .prefault({});
