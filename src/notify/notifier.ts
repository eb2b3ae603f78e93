// Webhook delivery off the verdict path. The verdict stage hands notifications to notify(), which
// only enqueues (a bounded queue per target; when full, the notification is dropped and counted)
// and returns. One worker per target POSTs them in order, signed (webhook-signature.ts), each with
// an idempotency key, retrying failures with the project's one backoff (core/retry-backoff.ts) until
// delivered or maxAttempts is spent. A slow or failing receiver therefore never blocks verdicts,
// and never holds up the other targets.
//
// At least once: a notification is retried until a 2xx; a re-evaluation after a crash re-emits the
// same verdicts and so the same idempotency keys, which receivers use to drop duplicates.

import type { Clock } from '../core/clock.js';
import { errorMessage } from '../core/errors.js';
import { once, type Component } from '../core/lifecycle.js';
import type { Logger } from '../core/logger.js';
import { retryDelayMs, type RetryBackoff } from '../core/retry-backoff.js';
import { renderBody, type Notification, type NotificationKind, type WebhookFormat } from './webhook-body.js';
import { signBody, SIGNATURE_HEADER, TIMESTAMP_HEADER } from './webhook-signature.js';

export interface WebhookTarget {
  url: string;
  format: WebhookFormat;
  /** Kinds this target wants; all when absent. */
  events?: readonly NotificationKind[];
  /** Features this target wants (per-rule webhooks); all when absent. */
  features?: readonly string[];
}

export interface NotifierOptions {
  targets: readonly WebhookTarget[];
  /** HMAC key; without one, bodies are sent unsigned (and a warning is logged at start). */
  signingKey?: string;
  maxQueue: number;
  maxAttempts: number;
  timeoutMs: number;
  backoff: RetryBackoff;
  clock: Clock;
  logger: Logger;
  /** Injected for tests; defaults to the global fetch. */
  fetch?: typeof fetch;
}

export interface NotifierStats {
  delivered: number;
  failedAttempts: number;
  gaveUp: number;
  dropped: number;
  queued: number;
}

interface Queue {
  target: WebhookTarget;
  items: Notification[];
  running: boolean;
}

export class Notifier implements Component {
  readonly name = 'notifier';
  private queues: Queue[];
  private readonly counts = { delivered: 0, failedAttempts: 0, gaveUp: 0, dropped: 0 };
  private stopped = false;
  private readonly idle = new Set<() => void>();
  private readonly sleeping = new Set<{ cancel(): void; wake(): void }>();

  constructor(private readonly o: NotifierOptions) {
    this.queues = o.targets.map((target) => ({ target, items: [], running: false }));
  }

  async start(): Promise<void> {
    if (this.queues.length > 0 && !this.o.signingKey) this.o.logger.warn('webhooks are configured without notify.signingKey: bodies are sent unsigned');
  }

  /** New targets (a rules reload): queues of targets that stay keep their pending notifications. */
  setTargets(targets: readonly WebhookTarget[]): void {
    const key = (t: WebhookTarget) => JSON.stringify([t.url, t.format, t.events ?? null, t.features ?? null]);
    const existing = new Map(this.queues.map((q) => [key(q.target), q]));
    this.queues = targets.map((target) => existing.get(key(target)) ?? { target, items: [], running: false });
  }

  /** Never blocks and never throws: the verdict path calls it. */
  notify(n: Notification): void {
    if (this.stopped) return;
    for (const q of this.queues) {
      const t = q.target;
      if (t.events && !t.events.includes(n.kind)) continue;
      if (t.features && !t.features.includes(n.feature)) continue;
      if (q.items.length >= this.o.maxQueue) {
        this.counts.dropped++;
        continue;
      }
      q.items.push(n);
      if (!q.running) void this.drain(q);
    }
  }

  stats(): NotifierStats {
    return { ...this.counts, queued: this.queues.reduce((s, q) => s + q.items.length, 0) };
  }

  /** Resolves when every queue is empty (tests; and stop() gives deliveries a last chance). */
  whenIdle(): Promise<void> {
    if (this.queues.every((q) => !q.running)) return Promise.resolve();
    return new Promise((resolve) => this.idle.add(resolve));
  }

  readonly stop = once(async () => {
    this.stopped = true;
    for (const s of this.sleeping) s.wake();
    await this.whenIdle();
  });

  private async drain(q: Queue): Promise<void> {
    q.running = true;
    while (q.items.length > 0) {
      const n = q.items[0];
      await this.deliver(q.target, n);
      q.items.shift();
    }
    q.running = false;
    if (this.queues.every((x) => !x.running)) {
      for (const resolve of this.idle) resolve();
      this.idle.clear();
    }
  }

  private async deliver(target: WebhookTarget, n: Notification): Promise<void> {
    const body = renderBody(n, target.format);
    for (let attempt = 1; ; attempt++) {
      // Signed at each attempt: the timestamp is the sending time, so receivers can bound replays.
      const ts = Math.floor(this.o.clock.now() / 1000);
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'idempotency-key': n.idempotencyKey,
        'x-pmf-guard-event': n.kind,
        [TIMESTAMP_HEADER]: String(ts),
      };
      if (this.o.signingKey) headers[SIGNATURE_HEADER] = signBody(this.o.signingKey, ts, body);
      let failure: string;
      try {
        const res = await this.post(target.url, headers, body);
        if (res >= 200 && res < 300) {
          this.counts.delivered++;
          return;
        }
        failure = `HTTP ${res}`;
      } catch (err) {
        failure = errorMessage(err);
      }
      this.counts.failedAttempts++;
      if (attempt >= this.o.maxAttempts || this.stopped) {
        this.counts.gaveUp++;
        this.o.logger.error('webhook delivery gave up', { url: redact(target.url), kind: n.kind, idempotencyKey: n.idempotencyKey, attempts: attempt, failure });
        return;
      }
      this.o.logger.warn('webhook delivery failed; retrying', { url: redact(target.url), attempt, failure });
      await this.sleep(retryDelayMs(attempt, this.o.backoff));
    }
  }

  private async post(url: string, headers: Record<string, string>, body: string): Promise<number> {
    const controller = new AbortController();
    const timer = this.o.clock.setTimeout(() => controller.abort(new Error(`no answer within ${this.o.timeoutMs} ms`)), this.o.timeoutMs);
    try {
      const res = await (this.o.fetch ?? fetch)(url, { method: 'POST', headers, body, signal: controller.signal });
      await res.arrayBuffer().catch(() => undefined);
      return res.status;
    } finally {
      timer.cancel();
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const entry = { cancel: () => {}, wake: () => { entry.cancel(); this.sleeping.delete(entry); resolve(); } };
      entry.cancel = this.o.clock.setTimeout(entry.wake, ms).cancel;
      this.sleeping.add(entry);
    });
  }
}

// Webhook URLs often carry a secret in the path (Slack's do): log only the origin.
function redact(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(invalid url)';
  }
}
