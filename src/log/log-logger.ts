// The few things the log adapters have to tell an operator (handler failures, consumer crashes and
// restarts). Structural, so the application's logger can be passed as is or wrapped in one line.

export interface LogLogger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

function line(level: string, message: string, fields?: Record<string, unknown>): void {
  process.stderr.write(`${JSON.stringify({ level, time: new Date().toISOString(), message, ...fields })}\n`);
}

/** JSON lines on stderr; used when no logger is injected. */
export const stderrLogLogger: LogLogger = {
  info: (m, f) => line('info', m, f),
  warn: (m, f) => line('warn', m, f),
  error: (m, f) => line('error', m, f),
};
