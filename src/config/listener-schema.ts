// The OTLP receiver section of the configuration schema, with the auth and TLS its listeners
// (and the admin API) share. Composed into Config by schema.ts, which holds the only defaults.

import { z } from 'zod';
import { listener } from './schema-fields.js';

export const receiverSection = z
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
    /**
     * While publishes come closer together than this, each waits up to this long for others to
     * share its Kafka send (a busy receiver's per-send cost, receiver/event-sink.ts); one after a
     * quiet spell goes at once. Adds at most this much to a reply, under load only. 0 = off.
     */
    lingerMs: z.number().int().nonnegative().default(10),
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
     * How long a request may wait for in-flight bytes (FIFO, both listeners): a gRPC call before
     * its message is read (it reserves 2 x maxMessageBytes, then keeps only its real size), an
     * HTTP body for each chunk. Past the wait: UNAVAILABLE / 429 with a retry delay.
     */
    admissionWaitMs: z.number().int().nonnegative().default(2000),
    /**
     * An events partition this receiver has written nothing to for this long gets a watermark
     * marker with its next send (or on its own once traffic stops): per source, the latest event
     * time published, so a partition few users hash to does not hold the verdicts. 0 = no markers.
     * Upgrade every aggregator and replay tool before receivers write markers (docs/contract.md):
     * set 0 on receivers until then.
     */
    markIdleMs: z.number().int().nonnegative().default(5000),
    /**
     * HMAC key for user ids; prefer PMF_GUARD_PSEUDONYM_KEY or pseudonymKeyFile over this field.
     * Several keys, one per line, newest first, form a rotation ring (see receiver/pseudonymizer.ts).
     */
    pseudonymKey: z.string().min(16, 'pseudonymKey must be at least 16 characters').optional(),
    pseudonymKeyFile: z.string().min(1).optional(),
  })
  .strict()
  .prefault({});

/** Bearer-token auth on the OTLP listeners (and the admin API); absent = off. */
export const authSection = z
  .object({
    /** Prefer bearerTokenFile or the environment over a token in a config file. */
    bearerToken: z.string().min(16, 'bearerToken must be at least 16 characters').optional(),
    /** One token per line (several = rotation); # comments and blank lines ignored. */
    bearerTokenFile: z.string().min(1).optional(),
  })
  .strict()
  .optional();

/** TLS for the OTLP listeners (and the admin API); with clientCaFile, clients need a certificate (mTLS). */
export const tlsSection = z
  .object({
    certFile: z.string().min(1),
    keyFile: z.string().min(1),
    clientCaFile: z.string().min(1).optional(),
  })
  .strict()
  .optional();
