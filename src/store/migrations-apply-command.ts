// Migration 8: every flag command in one database call. Two PL/pgSQL functions: rollout_decision
// (rollout-apply.ts decideRollout, the same rules in SQL) and apply_command, which does what the
// multi-statement path of flag-commands.ts does for any command: lock the feature, check
// applied_commands, end an expired pin (applying or dropping the command it held), honour an
// active pin (holding an automatic command), apply a rollback, restore or rollout step, and write
// the audit entries, result, version and outbox row. The command comes as the JSON the general
// path would store as a held command, so both store the same bytes. Kept apart from
// migrations.ts, which would otherwise pass 400 lines.
//
// PL/pgSQL because each statement in it takes a fresh snapshot, so the reads after the lock see
// what a concurrent writer of the feature committed. search_path is fixed at creation (the
// migration's schema), so callers need not set it.

import type { Migration } from './migrations.js';

// A timestamptz as JavaScript's toISOString() writes it (flag-write-context.ts isoTime), for reasons.
const ISO = `'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'`;

export const APPLY_COMMAND_MIGRATION: Migration = {
  version: 8,
  name: 'every command in one round trip',
  statements: [
    // {outcome: 'applied', rollout: <the ramp to store>} or {outcome: 'no_change', reason?}: what
    // a rollout command does to a cohort row (p_found false: no row yet). Numbers in reasons are
    // written as JavaScript writes them: trim_scale drops numeric(5,2)'s trailing zeros.
    `CREATE FUNCTION rollout_decision(p_found boolean, p_state text, p_allocation numeric, p_stored jsonb, p_cmd jsonb)
     RETURNS jsonb LANGUAGE plpgsql IMMUTABLE SET search_path FROM CURRENT AS $fn$
     DECLARE
       t jsonb := p_cmd->'rollout';
       v_next jsonb;
       v_serving numeric;
     BEGIN
       -- The ramp's five fields, as JSON.stringify(storedRollout(target)) keeps them (absent ones stay absent).
       SELECT coalesce(jsonb_object_agg(key, value), '{}'::jsonb) INTO v_next
         FROM jsonb_each(t) WHERE key IN ('stage', 'stages', 'status', 'salt', 'control');
       IF p_found THEN
         v_serving := CASE WHEN p_state = 'off' THEN 0 ELSE coalesce(p_allocation, 100) END;
         IF p_cmd->>'source' = 'verdict' AND p_cmd->>'action' = 'advance' AND p_cmd->>'state' = 'on' AND (t->>'percent')::numeric < v_serving THEN
           RETURN jsonb_build_object('outcome', 'no_change', 'reason',
             format('not applied: the cohort already serves %s %%, more than stage %s''s %s %%; %s', trim_scale(v_serving), t->>'stage', t->>'percent', p_cmd->>'reason'));
         END IF;
         IF p_state = p_cmd->>'state' AND coalesce(p_allocation = (t->>'percent')::numeric, false)
            AND p_stored IS NOT NULL AND p_stored <> 'null'::jsonb
            AND p_stored->'stage' IS NOT DISTINCT FROM v_next->'stage' AND p_stored->'stages' IS NOT DISTINCT FROM v_next->'stages'
            AND p_stored->'status' IS NOT DISTINCT FROM v_next->'status' AND p_stored->'salt' IS NOT DISTINCT FROM v_next->'salt'
            AND p_stored->'control' IS NOT DISTINCT FROM v_next->'control' THEN
           RETURN jsonb_build_object('outcome', 'no_change');
         END IF;
       END IF;
       RETURN jsonb_build_object('outcome', 'applied', 'rollout', v_next);
     END
     $fn$`,
    // p_cmd: the command as JSON; p_now: the writer's clock, which decides whether a pin is in force.
    // Returns {status, version} and, when the version moved, the outbox row's id and payload.
    `CREATE FUNCTION apply_command(p_cmd jsonb, p_now timestamptz)
     RETURNS jsonb LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
     DECLARE
       c_id text := p_cmd->>'commandId';
       c_feature text := p_cmd->>'feature';
       c_cohort text := p_cmd->>'cohort';
       c_state text := p_cmd->>'state';
       c_rollout jsonb := NULLIF(p_cmd->'rollout', 'null'::jsonb);
       c_auto boolean := p_cmd->>'source' = 'verdict';
       v_before bigint;
       v_version bigint;
       v_changed boolean := false;
       v_prior jsonb;
       v_row flags%ROWTYPE;
       v_old flags%ROWTYPE;
       v_found boolean;
       v_pin_ended boolean := false;
       v_held jsonb;
       v_held_outcome text;
       v_held_reason text;
       v_held_to_alloc numeric;
       v_decision jsonb;
       v_outcome text;
       v_reason text := p_cmd->>'reason';
       v_from_state text;
       v_from_alloc numeric;
       v_to_alloc numeric;
       v_result jsonb;
       v_outbox_id bigint;
       v_payload jsonb;
     BEGIN
       INSERT INTO feature_versions AS v (feature, version) VALUES (c_feature, 0)
         ON CONFLICT (feature) DO UPDATE SET version = v.version
         RETURNING version INTO v_before;
       v_version := v_before;
       -- Checked after the lock: a concurrent delivery of the same command has committed by now.
       SELECT result INTO v_prior FROM applied_commands WHERE command_id = c_id;
       IF FOUND THEN
         RETURN jsonb_build_object('status', 'duplicate', 'version', (v_prior->>'version')::bigint);
       END IF;
       SELECT * INTO v_row FROM flags WHERE feature = c_feature AND cohort = c_cohort;
       v_found := FOUND;

       -- A pin whose time has passed ends first (flag-pins.ts endPin), releasing what it held.
       IF v_found AND v_row.pinned_state IS NOT NULL AND NOT coalesce(v_row.pinned_until > p_now, false) THEN
         v_pin_ended := true;
         v_old := v_row;
         UPDATE flags SET pinned_state = NULL, pinned_until = NULL, pinned_by = NULL, pin_reason = NULL, held_command = NULL
           WHERE feature = c_feature AND cohort = c_cohort;
         v_held := NULLIF(v_old.held_command, 'null'::jsonb);
         v_held_to_alloc := v_old.allocation;
         IF v_held IS NULL THEN
           NULL;
         ELSIF NULLIF(v_held->'rollout', 'null'::jsonb) IS NOT NULL THEN
           v_decision := rollout_decision(true, v_old.state, v_old.allocation, v_old.rollout, v_held);
           IF v_decision->>'outcome' = 'no_change' THEN
             v_held_outcome := 'no_change';
             v_held_reason := format('released when the pin ended; %s: %s', coalesce(v_decision->>'reason', 'nothing to change'), v_held->>'reason');
           ELSE
             v_changed := true;
             v_version := v_before + 1;
             v_held_outcome := 'applied';
             v_held_reason := 'released when the pin ended: ' || (v_held->>'reason');
             v_held_to_alloc := (v_held->'rollout'->>'percent')::numeric;
             UPDATE flags SET state = v_held->>'state', version = v_version, reason = v_held->>'reason', updated_at = now(),
                              allocation = v_held_to_alloc, rollout = v_decision->'rollout', held_command = NULL
               WHERE feature = c_feature AND cohort = c_cohort;
           END IF;
         ELSIF v_held->>'state' = v_old.state THEN
           v_held_outcome := 'no_change';
           v_held_reason := format('released when the pin ended; cohort already %s: %s', v_old.state, v_held->>'reason');
         ELSE
           v_changed := true;
           v_version := v_before + 1;
           v_held_outcome := 'applied';
           v_held_reason := 'released when the pin ended: ' || (v_held->>'reason');
           UPDATE flags SET state = v_held->>'state', version = v_version, reason = v_held->>'reason', updated_at = now()
             WHERE feature = c_feature AND cohort = c_cohort;
         END IF;
         SELECT * INTO v_row FROM flags WHERE feature = c_feature AND cohort = c_cohort;
       END IF;

       v_from_state := CASE WHEN v_found THEN v_row.state END;
       v_from_alloc := CASE WHEN v_found THEN v_row.allocation END;
       v_to_alloc := CASE WHEN c_rollout IS NOT NULL THEN (c_rollout->>'percent')::numeric ELSE v_from_alloc END;
       IF v_found AND v_row.pinned_state IS NOT NULL AND coalesce(v_row.pinned_until > p_now, false)
          AND (p_cmd ? 'rollout' OR v_row.pinned_state <> c_state) THEN
         -- A pin freezes the cohort, its allocation included; only automatic commands wait behind it.
         v_outcome := 'skipped_pinned';
         v_reason := format('not applied: cohort pinned %s until %s%s%s; command reason: %s', v_row.pinned_state, to_char(v_row.pinned_until AT TIME ZONE 'UTC', ${ISO}),
                            CASE WHEN coalesce(v_row.pinned_by, '') <> '' THEN ' by ' || v_row.pinned_by ELSE '' END,
                            CASE WHEN c_auto THEN '; held until the pin ends' ELSE '' END, p_cmd->>'reason');
         IF c_auto THEN
           UPDATE flags SET held_command = p_cmd WHERE feature = c_feature AND cohort = c_cohort;
         END IF;
         v_to_alloc := v_from_alloc;
       ELSIF c_rollout IS NOT NULL THEN
         v_decision := rollout_decision(v_found, v_row.state, v_row.allocation, v_row.rollout, p_cmd);
         IF v_decision->>'outcome' = 'no_change' THEN
           v_outcome := 'no_change';
           v_reason := coalesce(v_decision->>'reason', v_reason);
           v_to_alloc := v_from_alloc;
         ELSE
           v_outcome := 'applied';
           v_changed := true;
           v_version := v_before + 1;
           INSERT INTO flags (feature, cohort, state, version, reason, updated_at, allocation, rollout)
             VALUES (c_feature, c_cohort, c_state, v_version, p_cmd->>'reason', now(), v_to_alloc, v_decision->'rollout')
             ON CONFLICT (feature, cohort) DO UPDATE
               SET state = excluded.state, version = excluded.version, reason = excluded.reason, updated_at = excluded.updated_at,
                   allocation = excluded.allocation, rollout = excluded.rollout, held_command = NULL;
         END IF;
       ELSIF v_found AND v_row.state = c_state THEN
         v_outcome := 'no_change';
         -- A newer automatic decision that agrees with the pin makes a held one obsolete.
         IF c_auto AND NULLIF(v_row.held_command, 'null'::jsonb) IS NOT NULL THEN
           UPDATE flags SET held_command = NULL WHERE feature = c_feature AND cohort = c_cohort;
         END IF;
       ELSE
         v_outcome := 'applied';
         v_changed := true;
         v_version := v_before + 1;
         INSERT INTO flags (feature, cohort, state, version, reason, updated_at)
           VALUES (c_feature, c_cohort, c_state, v_version, p_cmd->>'reason', now())
           ON CONFLICT (feature, cohort) DO UPDATE
             SET state = excluded.state, version = excluded.version, reason = excluded.reason,
                 updated_at = excluded.updated_at, held_command = NULL;
       END IF;

       -- Audit entries in the general path's order, each with the version the call ends at.
       IF v_pin_ended THEN
         INSERT INTO audit_log (command_id, feature, cohort, action, from_state, to_state, version, source, actor, reason, evidence, outcome, from_allocation, to_allocation)
           VALUES (NULL, c_feature, c_cohort, 'pin_expired', v_old.state, v_old.state, v_version, 'system', NULL,
                   format('pin %s%s expired at %s', v_old.pinned_state, CASE WHEN coalesce(v_old.pinned_by, '') <> '' THEN ' by ' || v_old.pinned_by ELSE '' END,
                          coalesce(to_char(v_old.pinned_until AT TIME ZONE 'UTC', ${ISO}), 'an unknown time')),
                   NULL, 'applied', NULL, NULL);
       END IF;
       IF v_held IS NOT NULL THEN
         INSERT INTO audit_log (command_id, feature, cohort, action, from_state, to_state, version, source, actor, reason, evidence, outcome, from_allocation, to_allocation)
           VALUES (v_held->>'commandId', c_feature, c_cohort, v_held->>'action', v_old.state, v_held->>'state', v_version, v_held->>'source', v_held->>'actor',
                   v_held_reason, NULLIF(v_held->'evidence', 'null'::jsonb), v_held_outcome, v_old.allocation, v_held_to_alloc);
       END IF;
       INSERT INTO audit_log (command_id, feature, cohort, action, from_state, to_state, version, source, actor, reason, evidence, outcome, from_allocation, to_allocation)
         VALUES (c_id, c_feature, c_cohort, p_cmd->>'action', v_from_state, c_state, v_version, p_cmd->>'source', p_cmd->>'actor',
                 v_reason, NULLIF(p_cmd->'evidence', 'null'::jsonb), v_outcome, v_from_alloc, v_to_alloc);
       v_result := jsonb_build_object('status', v_outcome, 'version', v_version);
       INSERT INTO applied_commands (command_id, result) VALUES (c_id, v_result);
       IF NOT v_changed THEN
         RETURN v_result;
       END IF;
       UPDATE feature_versions SET version = v_version WHERE feature = c_feature;
       -- The same snapshot as flag-outbox-store.ts writeOutbox builds.
       INSERT INTO outbox (feature, version, payload)
         SELECT c_feature, v_version, jsonb_build_object('feature', c_feature, 'version', v_version, 'cohorts', jsonb_object_agg(cohort, state))
                || CASE WHEN count(*) FILTER (WHERE allocation IS NOT NULL AND rollout IS NOT NULL) = 0 THEN '{}'::jsonb
                   ELSE jsonb_build_object('allocations', jsonb_object_agg(cohort, jsonb_build_object('percent', allocation, 'salt', rollout->>'salt', 'control', rollout->>'control'))
                                                          FILTER (WHERE allocation IS NOT NULL AND rollout IS NOT NULL)) END
           FROM flags WHERE feature = c_feature
         RETURNING id, payload INTO v_outbox_id, v_payload;
       RETURN v_result || jsonb_build_object('outbox_id', v_outbox_id, 'payload', v_payload);
     END
     $fn$`,
  ],
};
