// Small metadata files (topic partition counts, committed offsets) are replaced whole: write a
// temporary file, optionally fsync it, then rename over the old one, so a crash leaves either the
// old or the new content and never a torn mix. With fsync, the directory is synced too, so the
// rename itself survives a power cut.

import { open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';

export async function writeFileAtomic(path: string, data: string | Buffer, fsync: boolean): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  const handle = await open(tmp, 'w');
  try {
    await handle.writeFile(data);
    if (fsync) await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, path);
  if (fsync) await syncDir(dirname(path));
}

/** Makes created, renamed and deleted names in dir durable. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
