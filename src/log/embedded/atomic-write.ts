// Small metadata files (topic partition counts, committed offsets) are replaced whole: write a
// temporary file, optionally fsync it, then rename over the old one, so a crash leaves either the
// old or the new content and never a torn mix.

import { open, rename } from 'node:fs/promises';

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
}
