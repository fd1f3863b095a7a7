-- 0010_briefings: the weekly briefing from Google Drive, synced for real.
--
-- `briefings` keeps every version the sync read (history): an accepted one has error NULL
-- and becomes the active briefing (the latest activated_at wins); a refused one keeps the
-- reason and never becomes active. `briefing_sync` remembers the Drive revision last read
-- per folder, so an unchanged document is not exported again and a restart announces
-- nothing. `briefing_priority_shifts` marks the real shifts each "Vagas Prioritárias" line
-- matched.

ALTER TABLE briefings ADD COLUMN version bigint;          -- Drive's file `version`
ALTER TABLE briefings ADD COLUMN error text;              -- NULL = parsed and applied; else why not (pt-BR)
ALTER TABLE briefings ADD COLUMN activated_at timestamptz; -- when it became the active briefing
COMMENT ON COLUMN briefings.version IS
    'Drive file `version` (monotonically increasing; Google Docs have no headRevisionId).';
COMMENT ON COLUMN briefings.error IS
    'Why the document was not applied (pt-BR); NULL for a briefing that parsed.';
CREATE INDEX briefings_active_idx ON briefings (activated_at DESC)
    WHERE error IS NULL AND activated_at IS NOT NULL;

CREATE TABLE briefing_sync (
    folder_id     text PRIMARY KEY,                   -- GOOGLE_BRIEFINGS_FOLDER_ID
    file_id       text NOT NULL,                      -- the newest Google Doc last read
    version       bigint,                             -- its Drive `version` then
    modified_time timestamptz,
    checked_at    timestamptz NOT NULL
);
COMMENT ON TABLE briefing_sync IS
    'The Drive revision of the briefing folder''s newest document last read: the change detector.';

CREATE TABLE briefing_priority_shifts (
    briefing_id   bigint NOT NULL REFERENCES briefings (id) ON DELETE CASCADE,
    shift_id      bigint NOT NULL REFERENCES shifts (id) ON DELETE CASCADE,
    line          text NOT NULL,                      -- the "Vagas Prioritárias" line that named it
    pay_cap_cents integer CHECK (pay_cap_cents IS NULL OR pay_cap_cents > 0),  -- "até R$ 2.500"
    PRIMARY KEY (briefing_id, shift_id)
);
COMMENT ON TABLE briefing_priority_shifts IS
    'Shifts a briefing marked as priority (fuzzy hospital name + local date), re-matched every sync.';
CREATE INDEX briefing_priority_shifts_shift_idx ON briefing_priority_shifts (shift_id);

ALTER TABLE briefing_sync            ENABLE ROW LEVEL SECURITY;
ALTER TABLE briefing_priority_shifts ENABLE ROW LEVEL SECURITY;
