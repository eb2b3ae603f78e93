// A real Logger (src/core/logger.ts) whose JSON lines are kept in memory, so a test can assert on
// what was logged in the one line shape the application writes.

import { createLogger, type Logger } from '../../src/core/logger.js';

export interface LoggedLine {
  level: string;
  component: string;
  msg: string;
  [field: string]: unknown;
}

export function recordingLogger(): { logger: Logger; lines: LoggedLine[] } {
  const lines: LoggedLine[] = [];
  const logger = createLogger('debug', 'test', (line) => lines.push(JSON.parse(line) as LoggedLine));
  return { logger, lines };
}
