// The log sections of the configuration schema: Apache Kafka, the embedded log that replaces it
// in embedded mode, and the signing of the commands that travel on the log. Composed into Config
// by schema.ts.

import { z } from 'zod';
import { DAY_MS, MIB, kafkaRetry, retention, topicRetention } from './schema-fields.js';

export const kafkaSection = z
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
  .prefault({});

/**
 * Commands on pmf.commands.v1 carry an HMAC; the flag writer applies only those signed by a key
 * of this ring (one key per line, newest first: new commands use the first, any verifies).
 * Every verdict and flag-writer process shares it. Embedded mode derives it from the
 * pseudonymisation key unless one is set.
 */
export const commandsSection = z
  .object({
    /** Prefer signingKeyFile or PMF_GUARD_COMMAND_KEY_FILE over a key in a config file. */
    signingKey: z.string().min(16, 'commands.signingKey must be at least 16 characters').optional(),
    signingKeyFile: z.string().min(1).optional(),
  })
  .strict()
  .prefault({});

/** The embedded log (no Kafka configured): durability and how long each topic is kept. */
export const embeddedSection = z
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
  .prefault({});
