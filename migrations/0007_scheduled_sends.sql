-- 0007_scheduled_sends: a reply waiting to be "typed" is a scheduled send.
--
-- A turn records every part of its reply with the moment it may go (not_before: the
-- reading delay, then the typing time of each part) and how long "digitando…" is shown
-- before it (typing_ms); a queue job deferred to that moment sends it, so no worker slot
-- sleeps through the delays.

ALTER TABLE outbound_sends
    ADD COLUMN typing_ms integer NOT NULL DEFAULT 0 CHECK (typing_ms >= 0);
COMMENT ON COLUMN outbound_sends.typing_ms IS
    'How long the typing indicator is shown before this message (a reply part); 0: none.';

-- The next part of a conversation's reply, and the sweep's due replies.
CREATE INDEX outbound_sends_open_replies_idx ON outbound_sends (conversation_id, id)
    WHERE turn_id IS NOT NULL AND status IN ('pending', 'deferred');
