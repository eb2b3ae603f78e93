// The receiver benchmarks' load: one OTLP trace export request as an instrumented web app sends
// it (SDK-serialized spans with typical HTTP attributes, one flag exposure and a user per span).

import { recordSpans, traceBytes } from '../test/unit/receiver/otlp-fixtures.js';

export async function request(seed: number, spans: number): Promise<Buffer> {
  const specs = Array.from({ length: spans }, (_, i) => ({
    name: 'GET /api/items/:id',
    attributes: {
      'feature_flag.key': 'new-dashboard', 'feature_flag.result.variant': i % 2 ? 'treatment' : 'control',
      'enduser.id': `user-${(seed * 7919 + i) % 20_000}`,
      'http.request.method': 'GET', 'http.route': '/api/items/:id', 'url.path': `/api/items/${seed * spans + i}`,
      'http.response.status_code': 200, 'server.address': 'api.example.com', 'server.port': 443,
      'network.protocol.version': '1.1', 'user_agent.original': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36',
    },
  }));
  const resource = { 'service.name': 'web', 'service.version': '1.2.3', 'host.name': `host-${seed}` };
  return Buffer.from(traceBytes(await recordSpans(specs, resource)));
}
