// One EmbeddedLog per data directory: two writers appending to the same segment files would
// interleave records and corrupt them. A LOCK file holds the owner's pid; a lock left by a dead
// process (crash, kill -9) is taken over.

import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PmfError } from '../../core/errors.js';

export interface DirLock {
  release(): Promise<void>;
}

export async function lockDataDir(dataDir: string): Promise<DirLock> {
  await mkdir(dataDir, { recursive: true });
  const path = join(dataDir, 'LOCK');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(path, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      return { release: () => rm(path, { force: true }) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = Number((await readFile(path, 'utf8').catch(() => '')).trim());
    if (Number.isInteger(owner) && owner > 0 && isAlive(owner)) {
      throw new PmfError(
        'ERR_CONFIG_INVALID',
        `data directory ${dataDir} is in use by ${owner === process.pid ? 'another log in this process' : `process ${owner}`}; ` +
          'use another directory or stop the other instance',
      );
    }
    await rm(path, { force: true });
  }
  throw new PmfError('ERR_CONFIG_INVALID', `data directory ${dataDir}: could not take its LOCK file`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
