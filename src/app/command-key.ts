// Where the key ring that signs and checks flag commands comes from: config/env, a file, or
// (embedded mode only, where one process writes and reads the commands) keys derived from the
// pseudonymisation key ring, one per pseudonym key, so nothing new has to be kept. The keys
// themselves are never logged.

import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { PmfError } from '../core/errors.js';
import type { Config } from '../config/schema.js';
import { commandKeyRing, type CommandKeyRing } from '../events/command-signature.js';
import { parseKeyRing } from '../receiver/mapping/pseudonymizer.js';
import { resolvePseudonymKey } from './pseudonym-key.js';

/** Distinct from every other use of the pseudonym key, so the derived key says nothing about it. */
const DERIVATION_LABEL = 'pmf-guard flag command signing v1';

export function resolveCommandKeyRing(config: Config, embedded: boolean): { ring: CommandKeyRing; source: string } {
  const c = config.commands;
  if (c.signingKey) return { ring: commandKeyRing(parseKeyRing(c.signingKey)), source: 'config/PMF_GUARD_COMMAND_KEY' };
  if (c.signingKeyFile) {
    let text: string;
    try {
      text = readFileSync(c.signingKeyFile, 'utf8');
    } catch (err) {
      throw new PmfError('ERR_CONFIG_INVALID', `cannot read commands.signingKeyFile ${c.signingKeyFile}: ${(err as Error).message}`);
    }
    return { ring: commandKeyRing(parseKeyRing(text)), source: c.signingKeyFile };
  }
  if (!embedded) {
    throw new PmfError(
      'ERR_CONFIG_INVALID',
      'flag commands on Kafka are signed: set PMF_GUARD_COMMAND_KEY_FILE (e.g. `openssl rand -hex 32 > command.key`), the same for every verdict and flag-writer process',
    );
  }
  const pseudonym = resolvePseudonymKey(config, true);
  const derived = parseKeyRing(pseudonym.key).map((k) => createHmac('sha256', k).update(DERIVATION_LABEL).digest('hex'));
  return { ring: commandKeyRing(derived), source: `derived from ${pseudonym.source}` };
}
