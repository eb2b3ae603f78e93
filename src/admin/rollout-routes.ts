// People steer rollouts over HTTP: start, pause, resume, advance and abort a guarded cohort's
// rollout, and read its status (stage, time in stage, users, guard states, the flag in force).
// A change is a steering request appended to pmf.cohort-stats.v1 under the feature's key, where
// the verdict engine that owns the ramp applies it in log order and sends the resulting command
// through the flag writer, which writes the audit entry. So a request is accepted (202) here and
// takes effect within one trip through the log; the status route shows when it has.

import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import { systemClock, type Clock } from '../core/clock.js';
import { encodeJson } from '../events/codec.js';
import { ROLLOUT_STEER_KIND, STEER_ACTIONS, type RolloutSteer, type SteerAction } from '../events/rollout-steer.js';
import type { RuleSet } from '../rules/schema.js';
import type { RolloutStatusView } from '../verdict/verdict-engine.js';
import type { FeatureFlags } from '../flags/flag-repository.js';
import { decode, HttpError, parse, readJson, toHttpError, type AdminRouteHandler } from './flag-routes.js';
import { sendError, sendJson } from './http-reply.js';

export interface RolloutRoutesOptions {
  rules: () => RuleSet;
  /** Appends a steering request to the cohort-stats topic (key = feature). */
  publish: (steer: RolloutSteer) => Promise<void>;
  /** The ramps this process's verdict engines own; absent on roles without the verdict stage. */
  rollouts?: (feature: string) => RolloutStatusView[];
  /** The flag store's view; absent on roles without it. */
  getFlag?: (feature: string) => Promise<FeatureFlags | null>;
  /** The admin bearer-token check; without one every change is refused with 403. */
  auth?: { accepts(authorization: string | undefined): boolean };
  clock?: Clock;
  maxBodyBytes?: number;
}

const STEER_ROUTE = new RegExp(`^/v1/rollouts/([^/]+)/cohorts/([^/]+)/(${STEER_ACTIONS.join('|')})$`);
const STATUS_ROUTE = /^\/v1\/rollouts\/([^/]+)$/;

const SteerBody = z
  .object({
    actor: z.string().trim().min(1, 'actor is required: who is steering the rollout').max(200),
    reason: z.string().trim().min(1, 'reason is required: it goes into the audit log').max(2000),
  })
  .strict();

export function rolloutRoutes(options: RolloutRoutesOptions): AdminRouteHandler {
  const clock = options.clock ?? systemClock;
  const maxBodyBytes = options.maxBodyBytes ?? 16 * 1024;

  const ruleOf = (feature: string, cohort?: string) => {
    const rule = options.rules().byFeature.get(feature);
    if (!rule?.rollout) throw new HttpError(404, 'ERR_NOT_FOUND', `feature "${feature}" has no rollout in the rules in force`);
    if (cohort !== undefined && !rule.cohorts.guarded?.includes(cohort)) {
      throw new HttpError(404, 'ERR_NOT_FOUND', `cohort "${cohort}" is not a guarded cohort of "${feature}"`);
    }
    if (rule.mode !== 'enforce') throw new HttpError(409, 'ERR_ROLLOUT_NOT_DRIVEN', `feature "${feature}" is in ${rule.mode} mode: its rollout is not driven`);
    return rule;
  };

  const steer = async (req: IncomingMessage, feature: string, cohort: string, action: SteerAction) => {
    if (req.method !== 'POST') throw new HttpError(405, 'ERR_METHOD', `use POST on ${action}`, { allow: 'POST' });
    if (options.auth === undefined) {
      throw new HttpError(403, 'ERR_FORBIDDEN', 'rollout changes over HTTP need a bearer token: configure auth.bearerToken or auth.bearerTokenFile');
    }
    if (!options.auth.accepts(req.headers.authorization)) {
      throw new HttpError(401, 'ERR_UNAUTHENTICATED', 'missing or wrong bearer token', { 'www-authenticate': 'Bearer realm="pmf-guard admin"' });
    }
    const body = parse(SteerBody, await readJson(req, maxBodyBytes));
    ruleOf(feature, cohort);
    const key = req.headers['idempotency-key'];
    if (typeof key === 'string' && key.length > 200) throw new HttpError(400, 'ERR_BAD_REQUEST', 'Idempotency-Key must be at most 200 characters');
    const steerId = typeof key === 'string' && key.length > 0 ? `manual:${key}` : `manual:${randomUUID()}`;
    const request: RolloutSteer = {
      kind: ROLLOUT_STEER_KIND,
      steerId,
      feature,
      cohort,
      action,
      actor: body.actor,
      reason: body.reason,
      requestedAt: new Date(clock.now()).toISOString(),
    };
    await options.publish(request);
    return { status: 202, body: { accepted: request, status: `/v1/rollouts/${encodeURIComponent(feature)}` } };
  };

  const status = async (req: IncomingMessage, feature: string) => {
    if (req.method !== 'GET') throw new HttpError(405, 'ERR_METHOD', 'use GET on a rollout', { allow: 'GET' });
    const rule = ruleOf(feature);
    if (!options.rollouts && !options.getFlag) throw new HttpError(404, 'ERR_NOT_FOUND', 'this role has neither the verdict stage nor the flag store; ask either');
    const views = options.rollouts?.(feature) ?? [];
    const flag = (await options.getFlag?.(feature)) ?? null;
    const cohorts = (rule.cohorts.guarded ?? []).map((cohort) => ({
      cohort,
      ...(views.find((v) => v.cohort === cohort) ?? {}),
      ...(flag?.cohorts[cohort] ? { flag: flag.cohorts[cohort] } : {}),
    }));
    return { status: 200, body: { feature, stages: rule.rollout!.stages, onPass: rule.rollout!.onPass, onInconclusive: rule.rollout!.onInconclusive, cohorts } };
  };

  return async (req, res, url) => {
    const steerMatch = STEER_ROUTE.exec(url.pathname);
    const statusMatch = steerMatch ? null : STATUS_ROUTE.exec(url.pathname);
    if (!steerMatch && !statusMatch) return false;
    try {
      const out = steerMatch
        ? await steer(req, decode(steerMatch[1]), decode(steerMatch[2]), steerMatch[3] as SteerAction)
        : await status(req, decode(statusMatch![1]));
      sendJson(res, out.status, out.body);
    } catch (err) {
      const e = toHttpError(err);
      sendError(res, e.status, e.code, e.message, e.headers);
    }
    return true;
  };
}

/** The publish function for rolloutRoutes over the log's producer. */
export function steerPublisher(producer: { send(topic: string, records: { key: string; value: Buffer }[]): Promise<unknown> }, topic: string) {
  return async (steer: RolloutSteer): Promise<void> => {
    await producer.send(topic, [{ key: steer.feature, value: encodeJson(steer) }]);
  };
}
