// What a configuration exposes that an operator should know about at start-up: listeners reachable
// from the network without auth, Kafka credentials sent in clear. Pure: the app logs each line as a
// warning; nothing here refuses to start (the config schema refuses what is plainly wrong).

import type { Config } from './schema.js';

/** 127.0.0.0/8, ::1 and localhost: reachable only from this host (or this container). */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h) || h === '::ffff:127.0.0.1';
}

export function securityWarnings(c: Config): string[] {
  const out: string[] = [];
  if (!c.auth) {
    const listeners: [string, { host: string; port: number }][] = [];
    if (c.role === 'receiver' || c.role === 'all') {
      listeners.push(['receiver.grpc', c.receiver.grpc]);
      if (c.receiver.httpEnabled) listeners.push(['receiver.http', c.receiver.http]);
    }
    listeners.push(['admin', c.admin]);
    for (const [name, l] of listeners) {
      if (isLoopbackHost(l.host)) continue;
      out.push(
        `${name} listens on ${l.host}:${l.port} without auth: anyone who can reach it can ` +
          (name === 'admin' ? 'read metrics, verdicts, flags and the audit log' : 'send spans that steer verdicts') +
          '. Set PMF_GUARD_BEARER_TOKEN_FILE (auth.bearerTokenFile), or bind 127.0.0.1.',
      );
    }
  }
  const k = c.kafka;
  if (k.brokers && k.sasl?.mechanism === 'plain' && !k.tls) {
    out.push('kafka.sasl uses PLAIN without kafka.tls: the password crosses the network in clear. Configure kafka.tls, or use scram-sha-512.');
  }
  if (k.brokers && k.tls?.rejectUnauthorized === false) {
    out.push('kafka.tls.rejectUnauthorized is false: the brokers\' certificates are not checked, so anyone on the path can pose as the cluster.');
  }
  return out;
}
