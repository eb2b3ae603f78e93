// The building blocks the sections of the configuration schema share: ports, listeners, kafkajs
// retry policies, retention fields and the time/size units they are written in.

import { z } from 'zod';

export const port = z.number().int().min(0).max(65_535);
/** kafkajs' retry policy: attempts after the first, from the initial delay doubling up to the maximum. */
export const kafkaRetry = (retries: number, initialRetryTime: number, maxRetryTime: number) =>
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
export const listener = (defaultPort: number) =>
  z
    .object({
      host: z.string().min(1).optional(),
      port: port.default(defaultPort),
    })
    .strict();
export const DAY_MS = 86_400_000;
export const retention = z.number().int().min(-1).refine((v) => v !== 0, 'retention.ms is -1 (forever) or a positive number of ms');
export const LOOPBACK_HOST = '127.0.0.1';
export const ANY_HOST = '0.0.0.0';

export const HOUR_MS = 3_600_000;
export const MIB = 1024 * 1024;

/** One embedded-log topic's retention; null = that limit off. Records go a whole segment at a time. */
export const topicRetention = (d: { retentionMs: number | null; retentionBytes: number | null; segmentBytes: number }) => {
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
