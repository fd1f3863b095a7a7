-- 0014_lgpd: the emergency stop written at the edge, and LGPD end to end (opt-out
-- suppression, data-subject requests and their audit).
--
-- * julia_status.slack_event_id: a Slack `pausar` is written by the API in the request
--   that received it; the worker's job, which answers in the thread, finds the row by the
--   event and does not write it again.
-- * opt_out_suppressions: a number that opted out (or was erased) is kept only as the
--   SHA-256 of its canonical E.164 digits. A doctor row created or re-created with that
--   number (an inbound message, a CSV import, the dashboard) is born opted out, so the
--   number is never contacted again, whatever path adds it back.
-- * lgpd_audit: every opt-out an operator records and every export or erasure of a data
--   subject, by whom and through what, with counts (never the number itself).

ALTER TABLE julia_status ADD COLUMN IF NOT EXISTS slack_event_id text;
COMMENT ON COLUMN julia_status.slack_event_id IS
    'The Slack event whose request wrote this row (a pause written at the edge); NULL otherwise.';
CREATE UNIQUE INDEX IF NOT EXISTS julia_status_slack_event_idx ON julia_status (slack_event_id)
    WHERE slack_event_id IS NOT NULL;

-- The suppression key of a phone: SHA-256 (hex) of its canonical form, with the ninth digit
-- of a legacy 12-digit Brazilian mobile added (app.domain.doctors.phones.canonical_brazil).
CREATE OR REPLACE FUNCTION julia_phone_key(phone text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT encode(sha256(convert_to(
        CASE WHEN phone ~ '^55[0-9]{2}[6-9][0-9]{7}$'
             THEN substr(phone, 1, 4) || '9' || substr(phone, 5)
             ELSE phone END, 'UTF8')), 'hex')
$$;

CREATE TABLE IF NOT EXISTS opt_out_suppressions (
    phone_sha256 text PRIMARY KEY CHECK (phone_sha256 ~ '^[0-9a-f]{64}$'),
    reason       text NOT NULL CHECK (reason IN ('optout', 'apagamento')),
    created_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE opt_out_suppressions IS
    'LGPD suppression list: numbers (as julia_phone_key hashes) that must never be contacted again.';

CREATE TABLE IF NOT EXISTS lgpd_audit (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    action       text NOT NULL CHECK (action IN ('optout', 'exportar', 'apagar')),
    phone_sha256 text NOT NULL,
    found        boolean NOT NULL,                   -- a doctor with this number existed
    via          text NOT NULL,                      -- cli, api, slack
    operator     text,                               -- who asked (dashboard sub, Slack user, login)
    detail       jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(detail) = 'object'),
    created_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE lgpd_audit IS
    'Opt-outs recorded by operators and data-subject exports/erasures: who, how, when, counts.';
CREATE INDEX IF NOT EXISTS lgpd_audit_subject_idx ON lgpd_audit (phone_sha256, created_at);

-- A doctor added with a suppressed number is opted out from birth.
CREATE OR REPLACE FUNCTION julia_doctors_suppressed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.opted_out_at IS NULL AND EXISTS (
        SELECT 1 FROM opt_out_suppressions WHERE phone_sha256 = julia_phone_key(NEW.phone)
    ) THEN
        NEW.opted_out_at := now();
        NEW.opt_out_reason := 'supressao';
    END IF;
    RETURN NEW;
END;
$$;
DROP TRIGGER IF EXISTS doctors_suppressed ON doctors;
CREATE TRIGGER doctors_suppressed BEFORE INSERT OR UPDATE OF phone ON doctors
    FOR EACH ROW EXECUTE FUNCTION julia_doctors_suppressed();

-- Every opt-out, whatever wrote it (the turn, an operator, the runbook's SQL), is also a
-- suppression, so it outlives the doctor's row.
CREATE OR REPLACE FUNCTION julia_doctors_opted_out() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.opted_out_at IS NOT NULL THEN
        INSERT INTO opt_out_suppressions (phone_sha256, reason)
        VALUES (julia_phone_key(NEW.phone), 'optout')
        ON CONFLICT (phone_sha256) DO NOTHING;
    END IF;
    RETURN NULL;
END;
$$;
DROP TRIGGER IF EXISTS doctors_opted_out ON doctors;
CREATE TRIGGER doctors_opted_out AFTER INSERT OR UPDATE OF opted_out_at, phone ON doctors
    FOR EACH ROW EXECUTE FUNCTION julia_doctors_opted_out();

-- Backfill: the opt-outs recorded before this migration.
INSERT INTO opt_out_suppressions (phone_sha256, reason)
SELECT julia_phone_key(phone), 'optout' FROM doctors WHERE opted_out_at IS NOT NULL
ON CONFLICT (phone_sha256) DO NOTHING;

ALTER TABLE opt_out_suppressions ENABLE ROW LEVEL SECURITY;
ALTER TABLE lgpd_audit           ENABLE ROW LEVEL SECURITY;
