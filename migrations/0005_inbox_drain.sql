-- 0005_inbox_drain: the worker drains the Evolution inbox; retention; indexes for the
-- webhook and send paths.
--
-- The edge now only stores a delivery as 'received'; the worker's drainer claims the oldest
-- ones (FOR UPDATE SKIP LOCKED, in id order) and marks them done/failed. Its claim reads
-- this index instead of every row still kept for dedup and audit.
CREATE INDEX webhook_events_evolution_received_idx ON webhook_events (id)
    WHERE status = 'received' AND source = 'evolution';

-- The echo check (a fromMe delivery matched to Julia's own send by number and text while
-- the send's response is still on its way) scanned outbound_sends.
CREATE INDEX outbound_sends_to_phone_updated_idx ON outbound_sends (to_phone, updated_at);

COMMENT ON COLUMN webhook_events.payload IS
    'The delivery as the vendor sent it, without credentials (Evolution: no envelope apikey; Slack: no verification token) and without media (Evolution: data.message.base64 replaced by its size and mimetype).';
