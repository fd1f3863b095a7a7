-- 0011_chatwoot: what Julia mirrored into Chatwoot, so nothing appears there twice.
--
-- One Chatwoot contact per doctor, one Chatwoot conversation per Julia conversation
-- (conversations.chatwoot_conversation_id, from 0002, is filled too). Each mirrored item (a
-- message, a private note) is a row keyed by what it mirrors: the row is written before
-- the create call (attempted_at) and completed with Chatwoot's message id after it, so a
-- retry after an unanswered create looks in Chatwoot first instead of creating again.

CREATE TABLE chatwoot_contacts (
    doctor_id   bigint PRIMARY KEY REFERENCES doctors (id) ON DELETE CASCADE,
    contact_id  bigint NOT NULL,                       -- Chatwoot contact id
    created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE chatwoot_contacts IS
    'The Chatwoot contact of each doctor Julia mirrored (identifier julia-medico-<doctor id>).';

CREATE TABLE chatwoot_conversations (
    conversation_id          bigint PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
    chatwoot_conversation_id bigint NOT NULL UNIQUE,   -- Chatwoot display id
    contact_id               bigint NOT NULL,
    -- who speaks as Chatwoot last showed it (label `humano`, status): the mirror brings it
    -- in line with conversations.control when they differ
    control_shown            text NOT NULL DEFAULT 'julia'
                             CHECK (control_shown IN ('julia', 'humano')),
    last_mirrored_at         timestamptz,
    created_at               timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE chatwoot_conversations IS
    'Julia conversation -> Chatwoot conversation (display id) and the control Chatwoot shows.';

CREATE TABLE chatwoot_items (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conversation_id     bigint NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    -- 'msg:<messages.id>', 'handoff:<handoffs.id>', 'optout:<doctor>:<epoch>',
    -- 'reserva:<shift>:<doctor>:<epoch>'; also Chatwoot's source_id ('julia:<key>')
    key                 text NOT NULL UNIQUE,
    message_id          bigint UNIQUE REFERENCES messages (id) ON DELETE CASCADE,
    chatwoot_message_id bigint,                        -- NULL: a create not confirmed yet
    attempted_at        timestamptz NOT NULL DEFAULT now(),
    mirrored_at         timestamptz
);
COMMENT ON TABLE chatwoot_items IS
    'Each message or private note mirrored into Chatwoot, keyed by what it mirrors (idempotency).';
CREATE INDEX chatwoot_items_conversation_idx ON chatwoot_items (conversation_id);
CREATE INDEX chatwoot_items_chatwoot_message_idx ON chatwoot_items (chatwoot_message_id)
    WHERE chatwoot_message_id IS NOT NULL;

ALTER TABLE chatwoot_contacts ENABLE ROW LEVEL SECURITY;
ALTER TABLE chatwoot_conversations ENABLE ROW LEVEL SECURITY;
ALTER TABLE chatwoot_items ENABLE ROW LEVEL SECURITY;
