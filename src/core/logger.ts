// Structured JSON lines on stderr. Lifecycle transitions and errors are logged; individual records
// are counted in metrics, never logged (volume, and raw user ids must never reach logs).

export type Level = 'debug' | 'info' | 'warn' | 'error';
const order: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(component: string): Logger;
}

export function createLogger(level: Level = 'info', component = 'pmf-guard', write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  const emit = (lvl: Level, msg: string, fields?: Record<string, unknown>) => {
    if (order[lvl] < order[level]) return;
    const err = fields?.err;
    const rest = err instanceof Error ? { ...fields, err: { message: err.message, code: (err as { code?: unknown }).code } } : fields;
    write(JSON.stringify({ time: new Date().toISOString(), level: lvl, component, msg, ...rest }) + '\n');
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (c) => createLogger(level, `${component}.${c}`, write),
  };
}

export const silentLogger: Logger = {
  debug() {}, info() {}, warn() {}, error() {},
  child: () => silentLogger,
};
