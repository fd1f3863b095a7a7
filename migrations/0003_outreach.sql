-- 0003_outreach: what paced outreach needs on top of the domain schema.

-- Autonomous sends (scheduler-driven campaigns, follow-up cadence, reactivation) are the
-- ones PILOT_MODE holds back; a doctor-requested reminder or an operator's campaign is not.
ALTER TABLE outbound_sends
    ADD COLUMN autonomous boolean NOT NULL DEFAULT false;
-- the dispatcher: proactive sends waiting for their moment
CREATE INDEX outbound_sends_proactive_due_idx ON outbound_sends (not_before)
    WHERE proactive AND status IN ('pending', 'deferred');

-- A target points at the message written for it; the send carries the decision.
ALTER TABLE campaign_targets
    ADD COLUMN outbound_send_id bigint REFERENCES outbound_sends (id) ON DELETE SET NULL;
-- targets not yet written: the campaign job's work list
CREATE INDEX campaign_targets_todo_idx ON campaign_targets (campaign_id, id)
    WHERE status = 'pendente' AND outbound_send_id IS NULL;

-- An operator's opener template (variants separated by a line with ---), used instead of
-- Julia's own wording; and when the target list was last refreshed.
ALTER TABLE campaigns
    ADD COLUMN template text,
    ADD COLUMN targets_refreshed_at timestamptz;

-- Follow-ups carry the message they became, like campaign targets.
CREATE INDEX followups_conversation_idx ON followups (conversation_id);
-- Targeting's "within 60 days of an unanswered cadence's last step", by doctor.
CREATE INDEX followups_last_step_idx ON followups (doctor_id, sent_at)
    WHERE kind = 'cadencia' AND status = 'enviado' AND step >= 3;

-- Targeting's anti-join "already waiting for another campaign's opener", by doctor.
CREATE INDEX campaign_targets_open_doctor_idx ON campaign_targets (doctor_id)
    WHERE status IN ('pendente', 'adiado');

-- Opener templates from Google Drive (GOOGLE_TEMPLATES_FOLDER_ID), synced hourly.
CREATE TABLE opener_templates (
    kind          text PRIMARY KEY
                  CHECK (kind IN ('oferta', 'descoberta', 'reativacao', 'manual')),
    file_id       text,                              -- the Google Doc it came from
    file_name     text,
    body          text NOT NULL,                     -- variants separated by a line with ---
    modified_time timestamptz,                       -- Drive modifiedTime of that version
    synced_at     timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE opener_templates IS
    'The opener template of each campaign kind, from the Google Drive templates folder; used by campaigns without their own template. No row: Julia writes her own openers.';
-- A Drive document version refused by the sync (so it is not fetched again every hour).
CREATE TABLE opener_template_rejections (
    file_id       text PRIMARY KEY,
    kind          text NOT NULL,
    file_name     text,
    modified_time timestamptz,
    reason        text NOT NULL,                     -- for the operator (pt-BR)
    rejected_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE opener_template_rejections IS
    'The newest Drive document of a kind whose text is not a usable template, and why; the kind keeps its previous template.';

-- A later campaign's opener starts its own cadence in the same conversation: each step
-- once per (conversation, campaign) instead of once per conversation for good.
ALTER TABLE followups DROP CONSTRAINT followups_conversation_id_step_key;
CREATE UNIQUE INDEX followups_cadence_step_idx
    ON followups (conversation_id, (coalesce(campaign_id, 0)), step) WHERE kind = 'cadencia';

-- Every decision on an outbound message, not only the latest one on outbound_sends: sent,
-- deferred (and until when), cancelled, blocked, failed, each with its reason. Written by
-- a trigger, so a decision taken by SQL (an operator, stop_for_doctor) is kept too.
CREATE TABLE outbound_decisions (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    outbound_send_id bigint NOT NULL REFERENCES outbound_sends (id) ON DELETE CASCADE,
    decided_at       timestamptz NOT NULL,
    status           text NOT NULL,
    reason           text,
    not_before       timestamptz
);
COMMENT ON TABLE outbound_decisions IS
    'History of the gateway''s decisions on each outbound message (outbound_sends holds the latest).';
CREATE INDEX outbound_decisions_send_idx ON outbound_decisions (outbound_send_id);
CREATE INDEX outbound_decisions_decided_idx ON outbound_decisions (decided_at);

CREATE FUNCTION julia_record_outbound_decision() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO outbound_decisions (outbound_send_id, decided_at, status, reason, not_before)
    VALUES (NEW.id, coalesce(NEW.decided_at, now()), NEW.status, NEW.reason,
            CASE WHEN NEW.status = 'deferred' THEN NEW.not_before END);
    RETURN NULL;
END
$$;
CREATE TRIGGER outbound_sends_decision
    AFTER UPDATE OF status, reason, not_before, decided_at ON outbound_sends
    FOR EACH ROW
    WHEN (NEW.status <> 'pending'
          AND (OLD.status, OLD.reason, OLD.not_before, OLD.decided_at)
              IS DISTINCT FROM (NEW.status, NEW.reason, NEW.not_before, NEW.decided_at))
    EXECUTE FUNCTION julia_record_outbound_decision();
