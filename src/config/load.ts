// Reads the config file (YAML/JSON), applies environment overrides, validates once and freezes.
// Only this file reads process.env for configuration.

import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { PmfError } from '../core/errors.js';
import { describeIssues } from '../core/describe-issues.js';
import { Config, type Role } from './schema.js';

export interface LoadOptions {
  configFile?: string;
  rulesFile?: string;
  role?: Role;
  env?: NodeJS.ProcessEnv;
}

/** Environment variables that override the file; documented in the README. */
function envOverrides(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  const set = (path: string[], value: unknown) => {
    let node = o;
    for (const key of path.slice(0, -1)) node = (node[key] ??= {}) as Record<string, unknown>;
    node[path[path.length - 1]] = value;
  };
  if (env.KAFKA_BROKERS) set(['kafka', 'brokers'], env.KAFKA_BROKERS.split(',').map((s) => s.trim()).filter(Boolean));
  if (env.PMF_GUARD_TOPIC_PREFIX !== undefined) set(['kafka', 'topicPrefix'], env.PMF_GUARD_TOPIC_PREFIX);
  if (env.DATABASE_URL) set(['database', 'url'], env.DATABASE_URL);
  if (env.PMF_GUARD_DATABASE_SCHEMA) set(['database', 'schema'], env.PMF_GUARD_DATABASE_SCHEMA);
  if (env.REDIS_URL) set(['redis', 'url'], env.REDIS_URL);
  if (env.PMF_GUARD_REDIS_KEY_PREFIX !== undefined) set(['redis', 'keyPrefix'], env.PMF_GUARD_REDIS_KEY_PREFIX);
  if (env.PMF_GUARD_RULES) set(['rulesFile'], env.PMF_GUARD_RULES);
  if (env.PMF_GUARD_DATA_DIR) set(['dataDir'], env.PMF_GUARD_DATA_DIR);
  if (env.PMF_GUARD_PSEUDONYM_KEY) set(['receiver', 'pseudonymKey'], env.PMF_GUARD_PSEUDONYM_KEY);
  if (env.PMF_GUARD_PSEUDONYM_KEY_FILE) set(['receiver', 'pseudonymKeyFile'], env.PMF_GUARD_PSEUDONYM_KEY_FILE);
  if (env.PMF_GUARD_LOG_LEVEL) set(['logLevel'], env.PMF_GUARD_LOG_LEVEL);
  if (env.PMF_GUARD_BEARER_TOKEN) set(['auth', 'bearerToken'], env.PMF_GUARD_BEARER_TOKEN);
  if (env.PMF_GUARD_BEARER_TOKEN_FILE) set(['auth', 'bearerTokenFile'], env.PMF_GUARD_BEARER_TOKEN_FILE);
  if (env.PMF_GUARD_WEBHOOK_SIGNING_KEY) set(['notify', 'signingKey'], env.PMF_GUARD_WEBHOOK_SIGNING_KEY);
  if (env.PMF_GUARD_WEBHOOK_SIGNING_KEY_FILE) set(['notify', 'signingKeyFile'], env.PMF_GUARD_WEBHOOK_SIGNING_KEY_FILE);
  if (env.PMF_GUARD_TLS_CERT_FILE) set(['tls', 'certFile'], env.PMF_GUARD_TLS_CERT_FILE);
  if (env.PMF_GUARD_TLS_KEY_FILE) set(['tls', 'keyFile'], env.PMF_GUARD_TLS_KEY_FILE);
  if (env.PMF_GUARD_TLS_CLIENT_CA_FILE) set(['tls', 'clientCaFile'], env.PMF_GUARD_TLS_CLIENT_CA_FILE);
  // PMF_GUARD_HOST binds every listener (e.g. 0.0.0.0 in a container); the specific ones win.
  for (const [name, path] of [
    ['PMF_GUARD_HOST', ['receiver', 'grpc', 'host']],
    ['PMF_GUARD_HOST', ['receiver', 'http', 'host']],
    ['PMF_GUARD_HOST', ['admin', 'host']],
    ['PMF_GUARD_OTLP_GRPC_HOST', ['receiver', 'grpc', 'host']],
    ['PMF_GUARD_OTLP_HTTP_HOST', ['receiver', 'http', 'host']],
    ['PMF_GUARD_ADMIN_HOST', ['admin', 'host']],
  ] as const) {
    if (env[name]) set([...path], env[name]);
  }
  if (env.PMF_GUARD_COMMAND_KEY) set(['commands', 'signingKey'], env.PMF_GUARD_COMMAND_KEY);
  if (env.PMF_GUARD_COMMAND_KEY_FILE) set(['commands', 'signingKeyFile'], env.PMF_GUARD_COMMAND_KEY_FILE);
  if (env.PMF_GUARD_KAFKA_TLS === 'true' || env.PMF_GUARD_KAFKA_TLS === '1') set(['kafka', 'tls'], {});
  if (env.PMF_GUARD_KAFKA_TLS_CA_FILE) set(['kafka', 'tls', 'caFile'], env.PMF_GUARD_KAFKA_TLS_CA_FILE);
  if (env.PMF_GUARD_KAFKA_TLS_CERT_FILE) set(['kafka', 'tls', 'certFile'], env.PMF_GUARD_KAFKA_TLS_CERT_FILE);
  if (env.PMF_GUARD_KAFKA_TLS_KEY_FILE) set(['kafka', 'tls', 'keyFile'], env.PMF_GUARD_KAFKA_TLS_KEY_FILE);
  if (env.PMF_GUARD_KAFKA_SASL_MECHANISM) set(['kafka', 'sasl', 'mechanism'], env.PMF_GUARD_KAFKA_SASL_MECHANISM.toLowerCase());
  if (env.PMF_GUARD_KAFKA_SASL_USERNAME) set(['kafka', 'sasl', 'username'], env.PMF_GUARD_KAFKA_SASL_USERNAME);
  if (env.PMF_GUARD_KAFKA_SASL_PASSWORD) set(['kafka', 'sasl', 'password'], env.PMF_GUARD_KAFKA_SASL_PASSWORD);
  if (env.PMF_GUARD_KAFKA_SASL_PASSWORD_FILE) set(['kafka', 'sasl', 'passwordFile'], env.PMF_GUARD_KAFKA_SASL_PASSWORD_FILE);
  if (env.REDIS_CLUSTER_NODES) set(['redis', 'clusterNodes'], env.REDIS_CLUSTER_NODES.split(',').map((s) => s.trim()).filter(Boolean));
  for (const [name, path] of [
    ['PMF_GUARD_OTLP_GRPC_PORT', ['receiver', 'grpc', 'port']],
    ['PMF_GUARD_ADMIN_PORT', ['admin', 'port']],
    ['PMF_GUARD_OTLP_HTTP_PORT', ['receiver', 'http', 'port']],
    ['PMF_GUARD_KAFKA_SESSION_TIMEOUT_MS', ['kafka', 'sessionTimeoutMs']],
    ['PMF_GUARD_KAFKA_REPLICATION_FACTOR', ['kafka', 'replicationFactor']],
    ['PMF_GUARD_KAFKA_MIN_INSYNC_REPLICAS', ['kafka', 'minInsyncReplicas']],
  ] as const) {
    const v = env[name];
    if (v !== undefined) {
      const n = Number(v);
      set([...path], Number.isInteger(n) ? n : v);
    }
  }
  return o;
}

function merge(base: unknown, over: unknown): unknown {
  if (typeof base !== 'object' || base === null || Array.isArray(base)) return over;
  if (typeof over !== 'object' || over === null || Array.isArray(over)) return over;
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(over)) out[k] = merge(out[k], v);
  return out;
}

function deepFreeze<T>(o: T): T {
  if (typeof o === 'object' && o !== null) {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

export function loadConfig(options: LoadOptions = {}): Config {
  const env = options.env ?? process.env;
  const file = options.configFile ?? env.PMF_GUARD_CONFIG;
  let fromFile: unknown = {};
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new PmfError('ERR_CONFIG_INVALID', `cannot read config file ${file}: ${(err as Error).message}. Check --config / PMF_GUARD_CONFIG.`);
    }
    try {
      fromFile = parseYaml(text) ?? {};
    } catch (err) {
      throw new PmfError('ERR_CONFIG_INVALID', `config file ${file} is not valid YAML or JSON: ${(err as Error).message}`);
    }
  }
  let raw = merge(fromFile, envOverrides(env));
  const cli: Record<string, unknown> = {};
  if (options.rulesFile) cli.rulesFile = options.rulesFile;
  if (options.role) cli.role = options.role;
  raw = merge(raw, cli);
  const parsed = Config.safeParse(raw);
  if (!parsed.success) {
    const problems = describeIssues(parsed.error);
    throw new PmfError(
      'ERR_CONFIG_INVALID',
      `invalid configuration${file ? ` (${file} + environment)` : ' (environment)'}: ${problems.length} problem(s):\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
  }
  return deepFreeze(parsed.data);
}
