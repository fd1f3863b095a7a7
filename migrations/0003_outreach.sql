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

-- Campaign targeting by specialty alone (no region/state filter), oldest contact first.
CREATE INDEX doctors_specialty_contact_idx ON doctors (specialty_id, last_proactive_at NULLS FIRST, id)
    WHERE opted_out_at IS NULL;

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
