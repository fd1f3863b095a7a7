-- 0004_webhook_inbox: one inbox table for every vendor's deliveries.
--
-- webhook_events already held Evolution deliveries; Slack's Events API deliveries move in
-- from slack_events, and Chatwoot's will follow. Every row goes the same way: stored as
-- 'received', then 'done' (or 'ignored', or 'failed' with the error) with finished_at.
-- An Evolution delivery is still applied in the request that stores it, so it is 'done'
-- the moment it is committed.

ALTER TABLE webhook_events DROP CONSTRAINT webhook_events_status_check;
ALTER TABLE webhook_events RENAME COLUMN processed_at TO finished_at;
UPDATE webhook_events
   SET status = 'done', finished_at = coalesce(finished_at, received_at)
 WHERE status = 'processed';
ALTER TABLE webhook_events ADD CONSTRAINT webhook_events_status_check
    CHECK (status IN ('received', 'done', 'ignored', 'failed'));

COMMENT ON TABLE webhook_events IS
    'The inbox: every Evolution/Chatwoot/Slack delivery, deduplicated by (source, provider_id) (Slack: its event_id); received -> done/ignored/failed. Audit, replay and Slack''s operator command log.';
COMMENT ON COLUMN webhook_events.payload IS
    'The delivery as the vendor sent it (Slack: the event_callback body without its verification token).';

-- slack_events kept only the command's fields; they go back into the shape of an
-- event_callback body, where the Slack job reads them from.
INSERT INTO webhook_events
    (source, event, provider_id, payload, status, error, received_at, finished_at)
SELECT 'slack', 'app_mention', event_id,
       jsonb_build_object(
           'type', 'event_callback',
           'event_id', event_id,
           'event', jsonb_strip_nulls(jsonb_build_object(
               'type', 'app_mention', 'text', command, 'user', user_id,
               'channel', channel, 'ts', ts))),
       status, error, received_at, finished_at
  FROM slack_events
 ORDER BY received_at, event_id
    ON CONFLICT (source, provider_id) DO NOTHING;

-- RLS stays as 0002 enabled it on webhook_events; slack_events' goes with the table.
DROP TABLE slack_events;
