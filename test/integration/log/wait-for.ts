// Waiting by condition: polls until the predicate holds, failing with a description (and the last
// observed state) when it does not within the timeout.

export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  what: string,
  options: { timeoutMs?: number; describe?: () => unknown } = {},
): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  while (!(await condition())) {
    if (Date.now() > deadline) {
      const state = options.describe ? ` (last state: ${JSON.stringify(options.describe())})` : '';
      throw new Error(`timed out waiting for ${what}${state}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
