// The people side of the flag store over HTTP: pin / unpin a cohort with an expiry, roll back or
// restore it by hand through the same command path and audit log as automatic commands, and read
// the audit log with each change's verdict evidence. Mounted on the admin server as a route
// handler; every route needs the admin bearer token (reads stay open only when none is set).

import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { systemClock, type Clock } from '../core/clock.js';
import { describeIssues } from '../core/describe-issues.js';
import { errorMessage, PmfError, type ErrorCode } from '../core/errors.js';
import { sendError, sendJson } from './http-reply.js';
import { silentLogger, type Logger } from '../core/logger.js';
import { sendInternalError } from './admin-server.js';
import type { FlagCommand } from '../events/flag-command.js';
import type { ApplyResult, AuditEntry, AuditQuery, FeatureFlags, PinChangeResult, PinRequest, UnpinRequest } from '../flags/flag-repository.js';

/** Handles a request and returns true, or returns false to let the next handler try. */
export type AdminRouteHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>;

/** What the routes change flags through: the flag writer (so Redis is updated at once). */
export interface FlagAdminWriter {
  apply(cmd: FlagCommand): Promise<ApplyResult>;
  pin(req: PinRequest): Promise<PinChangeResult>;
  unpin(req: UnpinRequest): Promise<PinChangeResult>;
}

export interface FlagAdminReader {
  getFlag(feature: string): Promise<FeatureFlags | null>;
  auditLog(feature: string, query: AuditQuery): Promise<AuditEntry[]>;
}

export interface FlagRoutesOptions {
  writer: FlagAdminWriter;
  reader: FlagAdminReader;
  /**
   * The bearer-token check every flag route requires (the listeners' tokens). Without one, GET
   * .../audit stays open (like GET /v1/flags) and every change is refused with 403: flags never
   * change unauthenticated.
   */
  auth?: { accepts(authorization: string | undefined): boolean };
  clock?: Clock;
  /** Longest pin accepted (default 90 days). */
  maxPinSeconds?: number;
  /** Largest request body accepted (default 16 KiB). */
  maxBodyBytes?: number;
  logger?: Logger;
}

const COHORT_ROUTE = /^\/v1\/flags\/([^/]+)\/cohorts\/([^/]+)\/(pin|rollback|restore)$/;
const AUDIT_ROUTE = /^\/v1\/flags\/([^/]+)\/audit$/;

const person = {
  actor: z.string().trim().min(1, 'actor is required: who is making this change').max(200),
  reason: z.string().trim().min(1, 'reason is required: it goes into the audit log').max(2000),
};
const PinBody = z
  .object({
    state: z.enum(['on', 'off']),
    until: z.iso.datetime({ offset: true }).optional(),
    ttlSeconds: z.number().int().positive().optional(),
    ...person,
  })
  .strict()
  .refine((b) => (b.until === undefined) !== (b.ttlSeconds === undefined), { message: 'give exactly one of until (ISO 8601) and ttlSeconds' });
const UnpinBody = z.object({ ...person, releaseHeld: z.boolean().default(true) }).strict();
const CommandBody = z.object(person).strict();

class HttpError extends Error {
  constructor(readonly status: number, readonly code: ErrorCode, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
  }
}

export function flagRoutes(options: FlagRoutesOptions): AdminRouteHandler {
  const clock = options.clock ?? systemClock;
  const maxPinMs = (options.maxPinSeconds ?? 90 * 86_400) * 1000;
  const maxBodyBytes = options.maxBodyBytes ?? 16 * 1024;
  const authorize = (req: IncomingMessage, change: boolean): void => {
    if (options.auth === undefined) {
      if (change) throw new HttpError(403, 'ERR_FORBIDDEN', 'flag changes over HTTP need a bearer token: configure auth.bearerToken or auth.bearerTokenFile (PMF_GUARD_BEARER_TOKEN[_FILE])');
      return;
    }
    if (!options.auth.accepts(req.headers.authorization)) {
      throw new HttpError(401, 'ERR_UNAUTHENTICATED', 'missing or wrong bearer token', { 'www-authenticate': 'Bearer realm="pmf-guard admin"' });
    }
  };

  const commandId = (req: IncomingMessage): string => {
    const key = req.headers['idempotency-key'];
    if (typeof key === 'string' && key.length > 0) {
      if (key.length > 200) throw new HttpError(400, 'ERR_BAD_REQUEST', 'Idempotency-Key must be at most 200 characters');
      return `manual:${key}`;
    }
    return `manual:${randomUUID()}`;
  };

  const cohortRoute = async (req: IncomingMessage, feature: string, cohort: string, op: string) => {
    if (op === 'pin') {
      if (req.method === 'POST') {
        authorize(req, true);
        const body = parse(PinBody, await readJson(req, maxBodyBytes));
        const now = clock.now();
        const until = body.until !== undefined ? Date.parse(body.until) : now + body.ttlSeconds! * 1000;
        if (until <= now) throw new HttpError(400, 'ERR_BAD_REQUEST', `until ${new Date(until).toISOString()} is not in the future`);
        if (until - now > maxPinMs) throw new HttpError(400, 'ERR_BAD_REQUEST', `a pin may last at most ${maxPinMs / 1000} seconds`);
        const id = commandId(req);
        const result = await options.writer.pin({ commandId: id, feature, cohort, state: body.state, until: new Date(until).toISOString(), actor: body.actor, reason: body.reason });
        return { status: 200, body: { commandId: id, result, flag: await options.reader.getFlag(feature) } };
      }
      if (req.method === 'DELETE') {
        authorize(req, true);
        const body = parse(UnpinBody, await readJson(req, maxBodyBytes));
        const id = commandId(req);
        const result = await options.writer.unpin({ commandId: id, feature, cohort, actor: body.actor, reason: body.reason, releaseHeld: body.releaseHeld });
        return { status: 200, body: { commandId: id, result, flag: await options.reader.getFlag(feature) } };
      }
      throw new HttpError(405, 'ERR_METHOD', `use POST or DELETE on ${op}`, { allow: 'POST, DELETE' });
    }
    if (req.method !== 'POST') throw new HttpError(405, 'ERR_METHOD', `use POST on ${op}`, { allow: 'POST' });
    authorize(req, true);
    const body = parse(CommandBody, await readJson(req, maxBodyBytes));
    const flag = await options.reader.getFlag(feature);
    // A typo must not create a flag: manual commands only change cohorts the store knows.
    if (!flag?.cohorts[cohort]) throw new HttpError(404, 'ERR_NOT_FOUND', `no flag for feature "${feature}" cohort "${cohort}"`);
    const id = commandId(req);
    const rollback = op === 'rollback';
    const result = await options.writer.apply({
      commandId: id,
      feature,
      cohort,
      action: rollback ? 'rollback' : 'restore',
      state: rollback ? 'off' : 'on',
      source: 'manual',
      reason: body.reason,
      issuedAt: new Date(clock.now()).toISOString(),
      actor: body.actor,
    });
    const after = await options.reader.getFlag(feature);
    if (result.status === 'skipped_pinned') {
      const pin = after?.cohorts[cohort];
      const message = `cohort is pinned ${pin?.pinnedState ?? ''} until ${pin?.pinnedUntil ?? '?'}${pin?.pinnedBy ? ` by ${pin.pinnedBy}` : ''}: unpin it first`;
      return { status: 409, body: { error: 'ERR_PINNED' satisfies ErrorCode, message, commandId: id, result, flag: after } };
    }
    return { status: 200, body: { commandId: id, result, flag: after } };
  };

  const auditRoute = async (req: IncomingMessage, url: URL, feature: string) => {
    if (req.method !== 'GET') throw new HttpError(405, 'ERR_METHOD', 'use GET on audit', { allow: 'GET' });
    authorize(req, false);
    const limit = intParam(url, 'limit', 1, 1000) ?? 100;
    const before = intParam(url, 'before', 1, Number.MAX_SAFE_INTEGER);
    const cohort = url.searchParams.get('cohort') ?? undefined;
    const entries = await options.reader.auditLog(feature, { cohort, limit, beforeId: before });
    if (entries.length === 0 && before === undefined && (await options.reader.getFlag(feature)) === null) {
      throw new HttpError(404, 'ERR_NOT_FOUND', `unknown feature "${feature}"`);
    }
    const body: { feature: string; entries: AuditEntry[]; nextBefore?: number } = { feature, entries };
    if (entries.length === limit) body.nextBefore = entries[entries.length - 1].id;
    return { status: 200, body };
  };

  return async (req, res, url) => {
    const cohortMatch = COHORT_ROUTE.exec(url.pathname);
    const auditMatch = cohortMatch ? null : AUDIT_ROUTE.exec(url.pathname);
    if (!cohortMatch && !auditMatch) return false;
    try {
      const out = cohortMatch
        ? await cohortRoute(req, decode(cohortMatch[1]), decode(cohortMatch[2]), cohortMatch[3])
        : await auditRoute(req, url, decode(auditMatch![1]));
      sendJson(res, out.status, out.body);
    } catch (err) {
      const e = toHttpError(err);
      if (e.status >= 500 && !(err instanceof HttpError)) {
        // Store errors can name tables and hosts: the caller gets a correlation id, the log the detail.
        if (e.status === 500) sendInternalError(res, options.logger ?? silentLogger, err, url.pathname);
        else {
          const correlationId = randomUUID();
          (options.logger ?? silentLogger).warn('flag route unavailable', { correlationId, route: url.pathname, err: errorMessage(err) });
          sendJson(res, e.status, { error: e.code, message: 'temporarily unavailable; retry', correlationId }, e.headers);
        }
      } else sendError(res, e.status, e.code, e.message, e.headers);
    }
    return true;
  };
}

function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof PmfError) {
    if (err.code === 'ERR_NOT_FOUND') return new HttpError(404, err.code, err.message);
    if (err.code === 'ERR_EVENT_DECODE') return new HttpError(400, 'ERR_BAD_REQUEST', err.message);
    if (err.retryable) return new HttpError(503, err.code, err.message, { 'retry-after': '1' });
    return new HttpError(500, err.code, err.message);
  }
  return new HttpError(500, 'ERR_INTERNAL', errorMessage(err));
}

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (!result.success) throw new HttpError(400, 'ERR_BAD_REQUEST', `invalid request body: ${describeIssues(result.error).join('; ')}`);
  return result.data;
}

async function readJson(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) throw new HttpError(413, 'ERR_TOO_LARGE', `request body over ${maxBytes} bytes`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return {};
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, 'ERR_BAD_REQUEST', `request body is not JSON: ${errorMessage(err)}`);
  }
}

function intParam(url: URL, name: string, min: number, max: number): number | undefined {
  const raw = url.searchParams.get(name);
  if (raw === null) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new HttpError(400, 'ERR_BAD_REQUEST', `${name} must be an integer from ${min} to ${max}`);
  return n;
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(400, 'ERR_BAD_REQUEST', `bad URL encoding in "${segment}"`);
  }
}

