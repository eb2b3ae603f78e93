// How the admin API answers: JSON bodies, and errors as `{ error: <ErrorCode>, message }` so a
// program can branch on the stable code (src/core/errors.ts) and a person can read the message.

import type { ServerResponse } from 'node:http';
import type { ErrorCode } from '../core/errors.js';

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export function sendError(res: ServerResponse, status: number, code: ErrorCode, message: string, headers: Record<string, string> = {}): void {
  sendJson(res, status, { error: code, message }, headers);
}
