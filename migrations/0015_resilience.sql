-- 0015_resilience: what the watchdogs of the api, worker and scheduler share through Postgres.
--
-- `process_heartbeats` holds each process's last sign of life, written every watchdog tick
-- (also written to Redis: a peer reads whichever store it can reach). `alarm_episodes` holds
-- the outage alarms that are open: the process that inserts the row posts the alarm, the one
-- that deletes it posts the recovery, so several processes watching the same outage post
-- once. Postgres' own outage is de-duplicated in Redis instead (app/domain/operations/watchdog.py).

CREATE TABLE IF NOT EXISTS process_heartbeats (
    service  text NOT NULL CHECK (service IN ('api', 'worker', 'scheduler')),
    host     text NOT NULL,                 -- hostname:pid of the process
    beat_at  timestamptz NOT NULL,
    PRIMARY KEY (service, host)
);
COMMENT ON TABLE process_heartbeats IS
    'Last watchdog tick of each api/worker/scheduler process (its peers alarm on silence).';

CREATE TABLE IF NOT EXISTS alarm_episodes (
    alarm      text PRIMARY KEY,            -- postgres, redis, worker, scheduler, api
    opened_at  timestamptz NOT NULL,
    opened_by  text NOT NULL                -- service/host of the process that posted it
);
COMMENT ON TABLE alarm_episodes IS
    'Outage alarms posted and not yet recovered: one Slack post per episode across processes.';

-- A reply Evolution kept refusing past REPLY_FRESH_SECONDS hands the conversation to a person.
ALTER TABLE handoffs DROP CONSTRAINT IF EXISTS handoffs_trigger_check;
ALTER TABLE handoffs ADD CONSTRAINT handoffs_trigger_check
    CHECK (trigger IN ('pedido', 'juridico', 'negativo', 'modelo', 'llm_indisponivel',
                       'operador', 'humano_no_telefone', 'chatwoot', 'envio_falhou'));
