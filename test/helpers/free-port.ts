// The one way tests pick a loopback port: for a server they start themselves (a private Redis or
// PostgreSQL), or as an address where nothing listens (an unreachable broker or Redis).
import { createServer } from 'node:net';

/** A port that was free a moment ago and has nothing listening on it now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
  return port;
}
