-- 0016_quoted_shift.
--
-- A proactive message that quotes a concrete shift (a campaign opener, the second follow-up)
-- remembers which: the gateway has it rewritten or dropped at send time when that shift has
-- started, been filled or cancelled, so a deferred text never offers a shift that is gone.
ALTER TABLE outbound_sends
    ADD COLUMN IF NOT EXISTS shift_id bigint REFERENCES shifts (id) ON DELETE SET NULL;
COMMENT ON COLUMN outbound_sends.shift_id IS
    'The shift the text quotes (proactive messages only); checked again right before sending.';
