// Readiness probe for scripts/stack.sh: a broker is ready when it answers a metadata request
// and reports itself in the cluster, not merely when its port accepts connections.
// Usage: node scripts/kafka/wait-ready.mjs <host:port> <timeoutSeconds>
import kafkajs from 'kafkajs';

const [brokers = '127.0.0.1:9092', timeoutArg = '120'] = process.argv.slice(2);
const deadline = Date.now() + Number(timeoutArg) * 1000;
const kafka = new kafkajs.Kafka({
  clientId: 'pmf-guard-stack-probe',
  brokers: brokers.split(','),
  logLevel: kafkajs.logLevel.NOTHING,
  retry: { retries: 0 },
  connectionTimeout: 2000,
  requestTimeout: 5000,
});

let lastError = 'no attempt';
while (Date.now() < deadline) {
  const admin = kafka.admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    await admin.listTopics();
    if (cluster.brokers.length > 0 && cluster.controller !== null && cluster.controller >= 0) {
      await admin.disconnect();
      process.exit(0);
    }
    lastError = `cluster not formed yet: ${JSON.stringify(cluster)}`;
  } catch (error) {
    lastError = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  }
  await admin.disconnect().catch(() => undefined);
  // Polling interval of a readiness probe, not a wait for a fixed duration.
  await new Promise((resolve) => setTimeout(resolve, 250));
}
console.error(`[stack] kafka at ${brokers} not ready: ${lastError}`);
process.exit(1);
