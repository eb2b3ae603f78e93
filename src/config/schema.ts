// The one configuration schema. Parsed once at start-up (config/load.ts), then frozen.
// Defaults describe the embedded mode: nothing to install, everything in one process. Each default
// is written once, on its field: objects use prefault({}) so their fields' defaults fill them, and
// components used standalone (tests, the client) read configDefaults instead of repeating numbers.
// The sections live in listener-, log-, store-, stage- and output-schema.ts (their shared building blocks in
// schema-fields.ts); this file composes them, checks what spans sections, and owns configDefaults.

import { z } from 'zod';
import { ANY_HOST, DAY_MS, LOOPBACK_HOST, listener } from './schema-fields.js';
import { receiverSection, authSection, tlsSection } from './listener-schema.js';
import { kafkaSection, commandsSection, embeddedSection } from './log-schema.js';
import { databaseSection, redisSection, flagWriterSection } from './store-schema.js';
import { aggregationSection, verdictSection } from './stage-schema.js';
import { notifySection, reportSection, statusSection } from './output-schema.js';

export { ANY_HOST, LOOPBACK_HOST } from './schema-fields.js';

export const Config = z
  .object({
    role: z.enum(['receiver', 'aggregator', 'verdict', 'flag-writer', 'all']).default('all'),
    /** Rules file (YAML or JSON); also PMF_GUARD_RULES or --rules. */
    rulesFile: z.string().min(1).optional(),
    /** Embedded mode keeps its log, store and generated key here. */
    dataDir: z.string().min(1).default('.data'),
    logLevel: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
    receiver: receiverSection,
    auth: authSection,
    tls: tlsSection,
    /** Admin API; binds like the OTLP listeners (loopback unless auth is set or a host is given). */
    admin: listener(8080).prefault({}),
    kafka: kafkaSection,
    commands: commandsSection,
    database: databaseSection,
    redis: redisSection,
    aggregation: aggregationSection,
    flagWriter: flagWriterSection,
    embedded: embeddedSection,
    verdict: verdictSection,
    shutdownTimeoutMs: z.number().int().positive().default(10_000),
    status: statusSection,
    notify: notifySection,
    report: reportSection,
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
    // A gRPC call reserves twice its message limit before it is read (grpc-js' frames and their join).
    const largest = Math.max(2 * c.receiver.maxMessageBytes, c.receiver.httpEnabled ? c.receiver.maxHttpBodyBytes : 0);
    if (c.receiver.maxInFlightBytes < largest) {
      ctx.addIssue({ code: 'custom', path: ['receiver', 'maxInFlightBytes'], message: `receiver.maxInFlightBytes (${c.receiver.maxInFlightBytes}) must be at least the largest request limit (${largest}), or such requests could never be admitted` });
    }
    if (c.kafka.brokers && !c.database.url && ['aggregator', 'verdict', 'all'].includes(c.role)) {
      // Checkpoints must be shared by every member of the consumer group: a partition that moves
      // to an instance with its own embedded store would resume with empty state.
      ctx.addIssue({ code: 'custom', path: ['database', 'url'], message: `with Kafka, the ${c.role} role keeps its checkpoints in PostgreSQL: set DATABASE_URL (or database.url)` });
    }
    if (c.kafka.brokers && c.database.url) checkStoreWaits(c.database, c.kafka.sessionTimeoutMs, ctx);
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

/**
 * PostgreSQL's waits must end within the Kafka session. A member frozen inside a checkpoint save
 * keeps its rows locked until PostgreSQL ends its idle transaction, and its partitions move once
 * its session expires: the successor's saves must find the rows free. And a stage's consumer sends
 * no heartbeat while it waits for its checkpoint store, so a longer lock or statement wait would
 * cost it its partitions (0 leaves the server's setting: not checked).
 */
function checkStoreWaits(db: { idleInTransactionTimeoutMs: number; lockTimeoutMs: number; statementTimeoutMs: number }, sessionMs: number, ctx: z.RefinementCtx): void {
  const fix = (field: string, why: string) =>
    `database.${field} (${db[field as keyof typeof db]}) must be below kafka.sessionTimeoutMs (${sessionMs}): ${why}; lower database.${field} (e.g. to ${Math.floor(sessionMs / 2)}) or raise kafka.sessionTimeoutMs`;
  if (db.idleInTransactionTimeoutMs >= sessionMs) {
    ctx.addIssue({ code: 'custom', path: ['database', 'idleInTransactionTimeoutMs'], message: fix('idleInTransactionTimeoutMs', "a member frozen inside a checkpoint save would still hold the checkpoint rows when its partitions move, and its successor's saves would wait for them") });
  }
  for (const field of ['lockTimeoutMs', 'statementTimeoutMs'] as const) {
    if (db[field] > 0 && db[field] >= sessionMs) {
      ctx.addIssue({ code: 'custom', path: ['database', field], message: fix(field, 'a stage waiting that long for its checkpoint store sends no heartbeat and loses its partitions') });
    }
  }
}

export type Config = z.infer<typeof Config>;
export type ConfigInput = z.input<typeof Config>;
export type Role = Config['role'];

export function isDistributed(c: Config): { log: boolean; store: boolean; cache: boolean } {
  return { log: c.kafka.brokers !== undefined, store: c.database.url !== undefined, cache: c.redis.url !== undefined || c.redis.clusterNodes !== undefined };
}

/** Every default, parsed from an empty input: what a component uses when no config is given. */
export const configDefaults: Config = Object.freeze(Config.parse({}));
