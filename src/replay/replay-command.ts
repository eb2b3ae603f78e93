// `pmf-guard replay` and `pmf-guard export`: offline tools over the recorded events topic.
// Replay prints JSON lines (verdicts, the commands that would have been sent, a summary) and
// writes no flag; export writes the events topic to a file replay can read anywhere.

import { createWriteStream, renameSync, statSync, unlinkSync } from 'node:fs';
import { PmfError } from '../core/errors.js';
import { ProgressBar, type ProgressStream } from '../cli/progress-bar.js';
import { once } from 'node:events';
import { systemClock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { Config } from '../config/schema.js';
import { topicNames } from '../events/topics.js';
import { createLog } from '../app/create-log.js';
import { loadRulesFile } from '../config/rules-file.js';
import { aggregatorSettings, createEvaluator, verdictSettings } from '../app/stage-settings.js';
import { decodeEventRecord } from '../events/event-record-codec.js';
import { decodeWatermarkMarker, isWatermarkMarker } from '../events/watermark-marker.js';
import { replay } from './replay.js';
import { readEventsFromFile, readEventsFromLog } from './read-recorded-events.js';

export interface ReplayCommandOptions {
  config: Config;
  logger: Logger;
  rulesFile: string;
  input?: string;
  fromOffset?: bigint;
  fromTime?: number;
  stepSeconds?: number;
  write: (line: string) => void;
  /** Where a progress bar goes (stderr); drawn only when it is a terminal. */
  progress?: ProgressStream;
}

export async function runReplay(o: ReplayCommandOptions): Promise<void> {
  const rules = await loadRulesFile(o.rulesFile);
  let source;
  if (o.input) {
    let size = 0;
    try {
      size = statSync(o.input).size;
    } catch (err) {
      throw new PmfError('ERR_CONFIG_INVALID', `cannot read events file ${o.input}: ${(err as Error).message}`);
    }
    const bar = o.progress ? new ProgressBar(o.progress, 'reading events', size) : undefined;
    source = await readEventsFromFile(o.input, bar && ((n) => bar.update(n)));
    bar?.update(size);
    bar?.done();
    // An empty export is a failed one: replaying it would silently judge nothing.
    if (source.partitions.size === 0 && source.rejected === 0) throw new PmfError('ERR_CONFIG_INVALID', `events file ${o.input} holds no events`);
  } else {
    const log = createLog(o.config, systemClock, o.logger);
    try {
      source = await readEventsFromLog(log, topicNames(o.config.kafka.topicPrefix).events, { fromOffset: o.fromOffset, fromTime: o.fromTime });
    } finally {
      await log.close();
    }
  }
  const v = verdictSettings(o.config);
  const result = replay(source.partitions, {
    rules,
    evaluator: createEvaluator(o.config),
    stepMs: o.stepSeconds === undefined ? v.stepMs : Math.round(o.stepSeconds * 1000),
    heartbeatMs: v.heartbeatMs,
    partitions: v.partitions,
    aggregation: aggregatorSettings(o.config),
  });
  for (const v of result.verdicts) o.write(JSON.stringify({ type: 'verdict', ...v }));
  for (const c of result.commands) o.write(JSON.stringify({ type: 'would-send', ...c, evidence: undefined, verdictId: c.evidence?.verdictId }));
  o.write(JSON.stringify({
    type: 'summary',
    ruleVersion: rules.version,
    events: result.events,
    rejectedRecords: source.rejected,
    verdicts: result.verdicts.length,
    rollbacks: result.commands.filter((c) => c.action === 'rollback').map((c) => ({ feature: c.feature, cohort: c.cohort, at: c.issuedAt, reason: c.reason })),
    // A rollout's other steps (advance, hold, complete), so a replay shows how far each ramp got.
    rolloutSteps: result.commands
      .filter((c) => c.action !== 'rollback' && c.rollout)
      .map((c) => ({ feature: c.feature, cohort: c.cohort, at: c.issuedAt, action: c.action, percent: c.rollout!.percent })),
  }));
}

/** Writes aside and renames on success, so a failed export leaves no file (and no empty one). */
export async function runExport(config: Config, logger: Logger, out: string): Promise<number> {
  const log = createLog(config, systemClock, logger);
  const partial = `${out}.partial-${process.pid}`;
  const file = createWriteStream(partial, 'utf8');
  const opened = once(file, 'open');
  let n = 0;
  let ok = false;
  try {
    await opened;
    for await (const batch of log.readAll!(topicNames(config.kafka.topicPrefix).events)) {
      for (const r of batch.records) {
        // A watermark marker is one line of its own, so a replay of the file applies it as live did.
        if (isWatermarkMarker(r.value)) {
          const line = `{"partition":${batch.partition},"offset":"${r.offset}","marks":${JSON.stringify(decodeWatermarkMarker(r.value))}}\n`;
          if (!file.write(line)) await once(file, 'drain');
          continue;
        }
        for (const event of decodeEventRecord(r.value)) {
          const line = `{"partition":${batch.partition},"offset":"${r.offset}","event":${JSON.stringify(event)}}\n`;
          if (!file.write(line)) await once(file, 'drain');
          n++;
        }
      }
    }
    ok = true;
  } finally {
    if (!file.destroyed) {
      file.end();
      await once(file, 'finish').catch(() => undefined);
    }
    await log.close();
    if (ok) renameSync(partial, out);
    else {
      try {
        unlinkSync(partial);
      } catch {
        // Never created (the directory does not exist): nothing to remove.
      }
    }
  }
  return n;
}
