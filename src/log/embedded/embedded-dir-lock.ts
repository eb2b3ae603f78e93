// One EmbeddedLog per data directory: two writers appending to the same segment files would
// interleave records and corrupt them. Node has no flock(2), so the LOCK file names its owner by
// more than a pid: {pid, start time of that pid (field 22 of /proc/<pid>/stat), boot id}. In a
// container the process is PID 1 after every restart, so a pid alone would make the lock of a
// crashed (kill -9, OOM-killed) predecessor look alive; the start time tells the two PID 1s apart,
// and the boot id covers a reboot, after which start times begin again. Without /proc (not Linux)
// only the pid can be checked, as before.

import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PmfError } from '../../core/errors.js';

export interface DirLock {
  release(): Promise<void>;
}

export interface LockOwner {
  pid: number;
  /** Clock ticks after boot at which the process started; absent where /proc is not available. */
  startTime?: string;
  bootId?: string;
}

/** Where a lock looks for process facts; tests substitute another process's view. */
export interface ProcessFacts {
  self(): Promise<LockOwner>;
  /** The start time of a running pid, null if no such process, undefined if it cannot be told. */
  startTimeOf(pid: number): Promise<string | null | undefined>;
  bootId(): Promise<string | undefined>;
  isAlive(pid: number): boolean;
}

export const linuxProcessFacts: ProcessFacts = {
  async self() {
    return { pid: process.pid, startTime: (await this.startTimeOf(process.pid)) ?? undefined, bootId: await this.bootId() };
  },
  async startTimeOf(pid) {
    let stat: string;
    try {
      stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ESRCH') return (await procMounted()) ? null : undefined;
      return undefined;
    }
    // The command name (field 2) is in parentheses and may hold spaces or ')': split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[22 - 3];
  },
  async bootId() {
    return (await readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => '')).trim() || undefined;
  },
  isAlive(pid) {
    try {
      process.kill(pid, 0);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'EPERM';
    }
  },
};

async function procMounted(): Promise<boolean> {
  return readFile('/proc/self/stat', 'utf8').then(() => true, () => false);
}

export async function lockDataDir(dataDir: string, facts: ProcessFacts = linuxProcessFacts): Promise<DirLock> {
  await mkdir(dataDir, { recursive: true });
  const path = join(dataDir, 'LOCK');
  const me = await facts.self();
  const mine = JSON.stringify(me);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(path, 'wx');
      try {
        await handle.writeFile(mine);
      } finally {
        await handle.close();
      }
      return { release: () => releaseIfMine(path, mine) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const content = await readFile(path, 'utf8').catch(() => undefined);
    if (content === undefined) continue; // released meanwhile
    const owner = parseOwner(content);
    if (owner && (await ownerAlive(owner, me, facts))) {
      const who = owner.pid === me.pid && owner.startTime === me.startTime ? 'another log in this process' : `process ${owner.pid}`;
      throw new PmfError('ERR_CONFIG_INVALID', `data directory ${dataDir} is in use by ${who}; use another directory or stop the other instance`);
    }
    await takeOver(path, content);
  }
  throw new PmfError('ERR_CONFIG_INVALID', `data directory ${dataDir}: could not take its LOCK file (another instance is starting?)`);
}

/** A LOCK written before start times were recorded holds just the pid. */
export function parseOwner(content: string): LockOwner | undefined {
  const text = content.trim();
  if (/^[1-9][0-9]*$/.test(text)) return { pid: Number(text) };
  try {
    const o = JSON.parse(text) as Partial<LockOwner>;
    if (!Number.isInteger(o.pid) || (o.pid as number) <= 0) return undefined;
    return { pid: o.pid as number, startTime: typeof o.startTime === 'string' ? o.startTime : undefined, bootId: typeof o.bootId === 'string' ? o.bootId : undefined };
  } catch {
    return undefined; // unreadable: nobody can be shown to hold it
  }
}

async function ownerAlive(owner: LockOwner, me: LockOwner, facts: ProcessFacts): Promise<boolean> {
  if (owner.bootId !== undefined && me.bootId !== undefined && owner.bootId !== me.bootId) return false; // written before a reboot
  if (owner.startTime !== undefined) {
    const now = await facts.startTimeOf(owner.pid);
    if (now === null) return false;
    if (now !== undefined) return now === owner.startTime; // a different start time: the pid was reused
  }
  return facts.isAlive(owner.pid);
}

// Moves the stale file aside (rename is atomic: of two processes taking over, one moves it), and
// checks that what it moved is the stale lock; if a newer owner's lock was moved, it is put back.
async function takeOver(path: string, stale: string): Promise<void> {
  const aside = `${path}.stale.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    await rename(path, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  const moved = await readFile(aside, 'utf8').catch(() => undefined);
  // If the put-back fails, a third instance holds LOCK by now; the caller's next attempt sees it.
  if (moved !== stale) await link(aside, path).catch(() => undefined);
  await rm(aside, { force: true });
}

async function releaseIfMine(path: string, mine: string): Promise<void> {
  const content = await readFile(path, 'utf8').catch(() => undefined);
  if (content === mine) await rm(path, { force: true });
}
