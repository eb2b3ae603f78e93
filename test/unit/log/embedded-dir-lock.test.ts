// The data directory's LOCK survives what a container does to pids: after kill -9 or an OOM kill the
// new process is PID 1 again, so the LOCK names the current pid with another start time (or, after
// a reboot, another boot id). Real files and this machine's /proc.

import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { linuxProcessFacts, lockDataDir, parseOwner, type LockOwner, type ProcessFacts } from '../../../src/log/embedded/embedded-dir-lock.js';

const dirs: string[] = [];
function dir(): string {
  const d = mkdtempSync(join(tmpdir(), 'pmf-lock-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const lockOf = (d: string) => parseOwner(readFileSync(join(d, 'LOCK'), 'utf8'))!;

describe('data directory LOCK', () => {
  it('records pid, start time and boot id, and refuses a second log of this very process', async () => {
    const d = dir();
    const lock = await lockDataDir(d);
    const me = lockOf(d);
    expect(me.pid).toBe(process.pid);
    expect(me.startTime).toMatch(/^\d+$/);
    expect(me.bootId).toBe(readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim());
    await expect(lockDataDir(d)).rejects.toMatchObject({ code: 'ERR_CONFIG_INVALID', message: expect.stringContaining('another log in this process') });
    await lock.release();
    expect(existsSync(join(d, 'LOCK'))).toBe(false);
  });

  it('takes over a LOCK naming the current pid with another start time: a crashed PID 1 in a container', async () => {
    const d = dir();
    const me = await linuxProcessFacts.self();
    writeFileSync(join(d, 'LOCK'), JSON.stringify({ ...me, startTime: String(Number(me.startTime) - 1000) }));
    const lock = await lockDataDir(d);
    expect(lockOf(d)).toEqual(me);
    await lock.release();
  });

  it('takes over a LOCK naming the current pid and start time from before a reboot (another boot id)', async () => {
    const d = dir();
    const me = await linuxProcessFacts.self();
    writeFileSync(join(d, 'LOCK'), JSON.stringify({ ...me, bootId: '00000000-0000-0000-0000-000000000000' }));
    const lock = await lockDataDir(d);
    expect(lockOf(d)).toEqual(me);
    await lock.release();
  });

  it('refuses while another live process holds it', async () => {
    const d = dir();
    const parent: LockOwner = { pid: process.ppid, startTime: (await linuxProcessFacts.startTimeOf(process.ppid)) ?? undefined, bootId: await linuxProcessFacts.bootId() };
    writeFileSync(join(d, 'LOCK'), JSON.stringify(parent));
    await expect(lockDataDir(d)).rejects.toMatchObject({ code: 'ERR_CONFIG_INVALID', message: expect.stringContaining(`in use by process ${process.ppid}`) });
    expect(lockOf(d)).toEqual(parent);
  });

  it('reads the old pid-only LOCK: a dead pid is taken over, a live one refused', async () => {
    const d = dir();
    writeFileSync(join(d, 'LOCK'), '999999999');
    const lock = await lockDataDir(d);
    expect(lockOf(d).pid).toBe(process.pid);
    await lock.release();
    writeFileSync(join(d, 'LOCK'), String(process.ppid));
    await expect(lockDataDir(d)).rejects.toMatchObject({ code: 'ERR_CONFIG_INVALID' });
  });

  it('treats an unreadable LOCK as stale, and never releases a LOCK it does not own', async () => {
    const d = dir();
    writeFileSync(join(d, 'LOCK'), '{not json');
    const lock = await lockDataDir(d);
    writeFileSync(join(d, 'LOCK'), JSON.stringify({ pid: 4242 })); // someone replaced it meanwhile
    await lock.release();
    expect(await readFile(join(d, 'LOCK'), 'utf8')).toBe('{"pid":4242}');
  });

  it('without /proc falls back to the pid alone', async () => {
    const d = dir();
    const noProc: ProcessFacts = {
      async self() {
        return { pid: process.pid };
      },
      async startTimeOf() {
        return undefined;
      },
      async bootId() {
        return undefined;
      },
      isAlive: (pid) => pid === process.ppid,
    };
    writeFileSync(join(d, 'LOCK'), JSON.stringify({ pid: process.ppid, startTime: '1' }));
    await expect(lockDataDir(d, noProc)).rejects.toMatchObject({ code: 'ERR_CONFIG_INVALID' });
    writeFileSync(join(d, 'LOCK'), JSON.stringify({ pid: 999999999 }));
    await (await lockDataDir(d, noProc)).release();
  });
});
