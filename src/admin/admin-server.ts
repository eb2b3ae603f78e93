// The admin HTTP API (docs/contract.md): health, readiness, Prometheus metrics, flags, verdicts.
// Handlers are plain functions over injected sources so the server works for every role.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type ServerOptions as HttpsOptions } from 'node:https';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { errorMessage } from '../core/errors.js';
import { sendError, sendJson } from './http-reply.js';
import { once, type Component } from '../core/lifecycle.js';
import { silentLogger, type Logger } from '../core/logger.js';
import type { Verdict } from '../events/verdict.js';
import type { MetricsRegistry } from './metrics-registry.js';

export interface ReadinessProbe {
  name: string;
  /** Throws when not ready; may return detail that is shown while ready (e.g. degraded parts). */
  check(): Promise<void | Record<string, unknown>>;
}

export interface AdminSources {
  metrics: MetricsRegistry;
  probes: ReadinessProbe[];
  /** The admin API's flag JSON (docs/contract.md), or null for an unknown feature. Absent when this role has no store. */
  getFlag?: (feature: string) => Promise<unknown | null>;
  latestVerdicts?: (feature: string, cohort?: string) => Promise<Verdict[]>;
}

export interface AdminServerOptions {
  host: string;
  port: number;
  sources: AdminSources;
  probeTimeoutMs?: number;
  /** When set, every route but /healthz and /readyz needs a valid bearer token (the listeners' tokens). */
  auth?: { accepts(authorization: string | undefined): boolean };
  /** Serve HTTPS with these options (the listeners' certificate; requestCert for mTLS). */
  https?: HttpsOptions;
  /** Extra route handlers tried first, in order (e.g. flag-routes.ts); each returns true if it answered. */
  routes?: ((req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>)[];
  /** Where internal errors go, with the correlation id their (detail-free) answer carries. */
  logger?: Logger;
}

/**
 * Answers an internal error without saying anything internal: the body carries only a correlation
 * id, and the detail goes to the log under the same id.
 */
export function sendInternalError(res: ServerResponse, logger: Logger, err: unknown, route: string): void {
  const correlationId = randomUUID();
  logger.error('admin request failed', { correlationId, route, err: err instanceof Error ? err : errorMessage(err) });
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, 500, { error: 'ERR_INTERNAL', message: 'internal error; the server log has the details under this correlation id', correlationId });
}

function sendText(res: ServerResponse, status: number, text: string, contentType: string): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export class AdminServer implements Component {
  readonly name = 'admin-api';
  private server?: Server;

  constructor(private readonly o: AdminServerOptions) {}

  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? this.o.port;
  }

  async start(): Promise<void> {
    const handler = (req: IncomingMessage, res: ServerResponse) => {
      this.route(req, res).catch((err) => sendInternalError(res, this.o.logger ?? silentLogger, err, new URL(req.url ?? '/', 'http://admin').pathname));
    };
    this.server = this.o.https ? createHttpsServer(this.o.https, handler) : createServer(handler);
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.o.port, this.o.host, () => resolve());
    });
  }

  readonly stop = once(async () => {
    const server = this.server;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections?.();
    });
  });

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin');
    // Probes stay open so an orchestrator can check liveness without a secret.
    const probe = url.pathname === '/healthz' || url.pathname === '/readyz';
    if (this.o.auth && !probe && !this.o.auth.accepts(req.headers.authorization)) {
      res.setHeader('www-authenticate', 'Bearer realm="pmf-guard admin"');
      return sendError(res, 401, 'ERR_UNAUTHENTICATED', 'missing or wrong bearer token');
    }
    for (const handle of this.o.routes ?? []) if (await handle(req, res, url)) return;
    if (req.method !== 'GET') return sendError(res, 405, 'ERR_METHOD', 'method not allowed: the admin API is read-only over GET');
    const { sources } = this.o;
    if (url.pathname === '/healthz') return sendJson(res, 200, { status: 'ok' });
    if (url.pathname === '/readyz') {
      const results = await Promise.all(
        sources.probes.map(async (p) => {
          try {
            const detail = await withTimeout(p.check(), this.o.probeTimeoutMs ?? 2000, p.name);
            return { name: p.name, ok: true as const, ...(detail ? { detail } : {}) };
          } catch (err) {
            // /readyz is open without a token: the reason goes to the log, never to the caller.
            const correlationId = randomUUID();
            (this.o.logger ?? silentLogger).warn('readiness check failed', { check: p.name, correlationId, err: errorMessage(err) });
            return { name: p.name, ok: false as const, correlationId };
          }
        }),
      );
      const ready = results.every((r) => r.ok);
      return sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not ready', checks: results });
    }
    if (url.pathname === '/metrics') return sendText(res, 200, await sources.metrics.render(), 'text/plain; version=0.0.4');
    const flag = /^\/v1\/flags\/([^/]+)$/.exec(url.pathname);
    if (flag) {
      if (!sources.getFlag) return sendError(res, 404, 'ERR_WRONG_ROLE', 'this role has no flag store; ask the flag-writer role');
      let feature: string;
      try {
        feature = decodeURIComponent(flag[1]);
      } catch {
        return sendError(res, 400, 'ERR_BAD_REQUEST', `bad URL encoding in "${flag[1]}"`);
      }
      const body = await sources.getFlag(feature);
      return body === null ? sendError(res, 404, 'ERR_NOT_FOUND', `unknown feature "${feature}"`) : sendJson(res, 200, body);
    }
    if (url.pathname === '/v1/verdicts') {
      const feature = url.searchParams.get('feature');
      if (!feature) return sendError(res, 400, 'ERR_BAD_REQUEST', 'the feature query parameter is required: /v1/verdicts?feature=<f>[&cohort=<c>]');
      if (!sources.latestVerdicts) return sendError(res, 404, 'ERR_WRONG_ROLE', 'this role keeps no verdicts; ask the verdict role');
      const verdicts = await sources.latestVerdicts(feature, url.searchParams.get('cohort') ?? undefined);
      return sendJson(res, 200, { verdicts });
    }
    return sendError(res, 404, 'ERR_NOT_FOUND', `no route ${url.pathname}`);
  }
}
