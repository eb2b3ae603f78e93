// A plain TCP forwarder, the bridge between a test's network namespace and the services on the
// host's loopback: imported by the test process for the host side, and run inside the namespace
// (`ip netns exec <ns> node --import tsx tcp-forward.ts <listenHost> <targetHost> <port>...`) for
// the other. A connection that cannot reach its target is closed, never retried: what a cut
// network does to a client is the point of the tests that use it.

import net from 'node:net';
import { fileURLToPath } from 'node:url';

/** Listens on listenHost:port for each port and forwards to targetHost:port; resolves once all listen. */
export async function forward(listenHost: string, targetHost: string, ports: readonly number[]): Promise<net.Server[]> {
  return Promise.all(
    ports.map(
      (port) =>
        new Promise<net.Server>((resolve, reject) => {
          const server = net.createServer((client) => {
            const upstream = net.connect({ host: targetHost, port });
            const close = () => {
              client.destroy();
              upstream.destroy();
            };
            client.on('error', close).on('close', close);
            upstream.on('error', close).on('close', close);
            client.pipe(upstream);
            upstream.pipe(client);
          });
          server.once('error', reject);
          server.listen(port, listenHost, () => resolve(server));
        }),
    ),
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [listenHost, targetHost, ...ports] = process.argv.slice(2);
  forward(listenHost, targetHost, ports.map(Number)).then(
    () => process.stdout.write('forwarding\n'),
    (err: unknown) => {
      process.stderr.write(`tcp-forward: ${String(err)}\n`);
      process.exit(1);
    },
  );
}
