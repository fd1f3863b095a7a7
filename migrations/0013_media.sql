-- 0013_media: Julia hears voice notes and sees photos.
--
-- The worker fetches each inbound attachment (the delivery's inline base64, kept for it in
-- Redis by the edge, or Evolution's getBase64FromMediaMessage), keeps the file in the media
-- store (Supabase Storage or JULIA_DATA_DIR/media) and records in messages.media what it
-- learned: state, mimetype, size, the transcript of a voice note. `media_files` lists every
-- stored file: when its message is deleted (message retention, an erasure) message_id turns
-- NULL and the retention job deletes the file, then the row.

CREATE TABLE media_files (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id  bigint REFERENCES messages (id) ON DELETE SET NULL,
    store       text NOT NULL CHECK (store IN ('supabase', 'local')),
    storage_key text NOT NULL,                        -- <conversation>/<message>.<ext>
    mimetype    text,
    bytes       integer CHECK (bytes IS NULL OR bytes >= 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (store, storage_key)
);
COMMENT ON TABLE media_files IS
    'Attachments kept in the media store; a row whose message is gone (message_id NULL) is deleted with its file.';
CREATE INDEX media_files_message_idx ON media_files (message_id);
CREATE INDEX media_files_orphan_idx ON media_files (id) WHERE message_id IS NULL;
ALTER TABLE media_files ENABLE ROW LEVEL SECURITY;

-- What media cost per turn, next to the model's tokens and cost.
ALTER TABLE turns
    ADD COLUMN transcription_seconds integer NOT NULL DEFAULT 0 CHECK (transcription_seconds >= 0);
ALTER TABLE turns
    ADD COLUMN image_tokens integer NOT NULL DEFAULT 0 CHECK (image_tokens >= 0);
COMMENT ON COLUMN turns.transcription_seconds IS
    'Seconds of audio this turn had transcribed by TRANSCRIPTION_API_URL (Evolution''s own transcripts cost nothing here).';
COMMENT ON COLUMN turns.image_tokens IS
    'Estimated input tokens of the images sent to the model in this turn (width x height / 750 each).';

-- Julia asks a doctor to write instead of sending audio once per conversation.
ALTER TABLE conversations ADD COLUMN asked_for_text_at timestamptz;
COMMENT ON COLUMN conversations.asked_for_text_at IS
    'When Julia said she could not listen to a voice note and asked for a text (once per conversation).';
