-- 0002_domain: the domain schema (doctors, shifts, conversations, outreach, operations).
--
-- Conventions
--   * Enumerated text columns use CHECK constraints, not enum types: a later migration can
--     widen them with DROP CONSTRAINT / ADD CONSTRAINT. Inline column checks get Postgres'
--     predictable name <table>_<column>_check.
--   * Money is integer cents (BRL); time is timestamptz (business rules use America/Sao_Paulo
--     in code, never in the database).
--   * Doctors are the root of personal data: deleting a doctor (LGPD erasure) cascades to their
--     conversations, messages, memories and ledgers; history that is not theirs (shifts,
--     campaigns) only loses the reference.
--   * Runs inside one transaction (the runner's), so no CONCURRENTLY anywhere.

-- ---------------------------------------------------------------------------------------
-- Helpers
-- ---------------------------------------------------------------------------------------

-- Shared updated_at trigger for every table whose rows change.
CREATE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

-- Accent/case/space-insensitive key ("Clínica Médica " -> "clinica medica").
-- unaccent() is only STABLE, so it cannot feed an index or a generated column directly;
-- tables keep a *_normalized column filled by a BEFORE trigger, and code can call
-- julia_normalize($1) on the search side. unaccent is resolved through search_path at
-- call time (public locally, extensions on Supabase).
CREATE FUNCTION julia_normalize(t text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT nullif(btrim(regexp_replace(lower(unaccent(t)), '\s+', ' ', 'g')), '')
$$;

-- ---------------------------------------------------------------------------------------
-- Reference data: specialties, hospitals
-- ---------------------------------------------------------------------------------------

CREATE TABLE specialties (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL UNIQUE,
    -- filled by trigger; the key used to match free text ("pediatria", "Pediatría")
    name_normalized text NOT NULL UNIQUE,
    -- other spellings doctors and CSVs use ("GO", "clinico geral"), stored normalized
    aliases         text[] NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE specialties IS
    'Medical specialties. name_normalized (trigger) and aliases give accent-insensitive matching.';
CREATE INDEX specialties_aliases_idx ON specialties USING gin (aliases);

CREATE FUNCTION specialties_normalize() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.name_normalized := julia_normalize(NEW.name);
    RETURN NEW;
END;
$$;
CREATE TRIGGER specialties_normalize BEFORE INSERT OR UPDATE OF name ON specialties
    FOR EACH ROW EXECUTE FUNCTION specialties_normalize();
CREATE TRIGGER specialties_updated_at BEFORE UPDATE ON specialties
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE hospitals (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL,
    city            text NOT NULL,
    state           char(2) NOT NULL CHECK (state ~ '^[A-Z]{2}$'),  -- UF
    region          text,            -- operator's grouping, e.g. 'ABC', 'Campinas', 'Zona Sul'
    address         text,
    notes           text,            -- what Julia may tell doctors (parking, entrance, ...)
    external_ref    text UNIQUE,     -- id in the source system, when the CSV has one
    -- filled by trigger; (name_normalized, city_normalized) is the natural key, so a CSV
    -- re-import can INSERT ... ON CONFLICT (name_normalized, city_normalized) DO UPDATE
    -- (BEFORE triggers run before the conflict check).
    name_normalized text NOT NULL,
    city_normalized text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (name_normalized, city_normalized)
);
COMMENT ON TABLE hospitals IS
    'Hospitals that publish shifts. Natural key: accent/case-insensitive (name, city); external_ref when known.';
CREATE INDEX hospitals_region_idx ON hospitals (region);
CREATE INDEX hospitals_state_city_idx ON hospitals (state, city_normalized);

CREATE FUNCTION hospitals_normalize() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.name_normalized := julia_normalize(NEW.name);
    NEW.city_normalized := julia_normalize(NEW.city);
    RETURN NEW;
END;
$$;
CREATE TRIGGER hospitals_normalize BEFORE INSERT OR UPDATE OF name, city ON hospitals
    FOR EACH ROW EXECUTE FUNCTION hospitals_normalize();
CREATE TRIGGER hospitals_updated_at BEFORE UPDATE ON hospitals
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- ---------------------------------------------------------------------------------------
-- Chips (Evolution instances = WhatsApp numbers)
-- ---------------------------------------------------------------------------------------

CREATE TABLE chips (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    instance          text NOT NULL UNIQUE,          -- Evolution instance name
    phone             text UNIQUE CHECK (phone ~ '^[1-9][0-9]{7,14}$'),  -- unknown until paired
    state             text NOT NULL DEFAULT 'close'
                      CHECK (state IN ('open', 'connecting', 'close')),  -- from connection.update
    state_changed_at  timestamptz,
    connected_at      timestamptz,                   -- last transition to 'open'
    -- a young number warms up: its caps grow with age counted from here
    warmup_started_at timestamptz,
    -- NULL = use MAX_MSGS_POR_DIA / MAX_MSGS_POR_HORA (and the warm-up curve)
    daily_limit       integer CHECK (daily_limit >= 0),
    hourly_limit      integer CHECK (hourly_limit >= 0),
    -- a failing chip is skipped until this moment
    benched_until     timestamptz,
    bench_reason      text,
    failure_count     integer NOT NULL DEFAULT 0 CHECK (failure_count >= 0),
    last_failure_at   timestamptz,
    last_sent_at      timestamptz,                   -- pacing: randomised gap from here
    enabled           boolean NOT NULL DEFAULT true, -- operator switch
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE chips IS
    'WhatsApp numbers (Evolution instances): connection state, limit overrides, warm-up, bench/cooldown.';
CREATE TRIGGER chips_updated_at BEFORE UPDATE ON chips
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- ---------------------------------------------------------------------------------------
-- Doctors
-- ---------------------------------------------------------------------------------------

-- The WhatsApp @lid lives on doctors (nullable, unique) rather than in a separate lid_map:
-- a lid identifies one WhatsApp account, i.e. one phone, i.e. one doctor, and it is only
-- useful once we know the phone (we reply to, cap and opt out phones). It is learned from
-- remoteJidAlt on the first message that carries both. A lid message we cannot resolve yet is
-- still stored (messages.remote_jid, with doctor_id NULL) and re-linked when the lid is learned.
CREATE TABLE doctors (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- E.164 digits, no '+': 5511987654321. Canonical form with the 9th digit; code matches
    -- legacy ids without it by looking up both forms.
    phone             text NOT NULL UNIQUE CHECK (phone ~ '^[1-9][0-9]{7,14}$'),
    name              text,
    push_name         text,                          -- WhatsApp display name, as last seen
    crm               text,
    crm_uf            char(2) CHECK (crm_uf ~ '^[A-Z]{2}$'),
    specialty_id      bigint REFERENCES specialties (id) ON DELETE SET NULL,
    city              text,
    state             char(2) CHECK (state ~ '^[A-Z]{2}$'),
    region            text,
    -- structured facts the agent reads quickly (periods, days, hospitals to avoid, min pay);
    -- free-form facts live in memories
    preferences       jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(preferences) = 'object'),
    -- LGPD: once set, no proactive message ever again
    opted_out_at      timestamptz,
    opt_out_reason    text,
    last_inbound_at   timestamptz,
    last_outbound_at  timestamptz,
    last_proactive_at timestamptz,                   -- per-doctor 48 h cap, "not contacted recently"
    source            text,                          -- 'inbound', 'csv:<file>', 'dashboard', ...
    lid               text UNIQUE,                   -- WhatsApp anonymous id (digits before @lid)
    -- sticky chip: a doctor always hears from the same number
    assigned_chip_id  bigint REFERENCES chips (id) ON DELETE SET NULL,
    notes             text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE doctors IS
    'Doctors (contacts). phone is the identity; opted_out_at is absolute (LGPD); assigned_chip_id is the sticky chip.';
-- Campaign target selection: specialty + region among doctors not opted out, oldest
-- proactive contact first. Partial, so opted-out doctors cost nothing.
CREATE INDEX doctors_targeting_idx ON doctors (specialty_id, region, last_proactive_at)
    WHERE opted_out_at IS NULL;
-- same, for campaigns that target by UF/city instead of region
CREATE INDEX doctors_targeting_state_idx ON doctors (specialty_id, state, city)
    WHERE opted_out_at IS NULL;
-- reactivation: doctors silent for 60+ days
CREATE INDEX doctors_last_inbound_idx ON doctors (last_inbound_at) WHERE opted_out_at IS NULL;
CREATE INDEX doctors_crm_idx ON doctors (crm_uf, crm) WHERE crm IS NOT NULL;
CREATE INDEX doctors_assigned_chip_idx ON doctors (assigned_chip_id) WHERE assigned_chip_id IS NOT NULL;
-- dashboard search by name
CREATE INDEX doctors_name_trgm_idx ON doctors USING gin (name gin_trgm_ops);
CREATE TRIGGER doctors_updated_at BEFORE UPDATE ON doctors
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- ---------------------------------------------------------------------------------------
-- Shifts (plantões)
-- ---------------------------------------------------------------------------------------

CREATE TABLE shifts (
    id                       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- RESTRICT: a hospital or specialty with shifts is history, not something to cascade away
    hospital_id              bigint NOT NULL REFERENCES hospitals (id) ON DELETE RESTRICT,
    specialty_id             bigint NOT NULL REFERENCES specialties (id) ON DELETE RESTRICT,
    sector                   text,                   -- 'PS', 'UTI adulto', 'enfermaria', ...
    starts_at                timestamptz NOT NULL,
    ends_at                  timestamptz NOT NULL,
    period                   text NOT NULL CHECK (period IN ('diurno', 'noturno', 'integral')),
    -- pay: fixed (pay_cents), a range (min/max), or neither with pay_note 'a combinar'.
    -- Julia quotes only these values; she never invents one.
    pay_cents                integer CHECK (pay_cents >= 0),
    pay_min_cents            integer CHECK (pay_min_cents >= 0),
    pay_max_cents            integer CHECK (pay_max_cents >= 0),
    pay_note                 text,
    -- how far above the published value Julia may go when a doctor negotiates; 0 = no room
    negotiation_margin_cents integer NOT NULL DEFAULT 0 CHECK (negotiation_margin_cents >= 0),
    priority                 smallint NOT NULL DEFAULT 0,  -- briefing's "Vagas Prioritárias"
    status                   text NOT NULL DEFAULT 'aberto'
                             CHECK (status IN ('aberto', 'reservado', 'confirmado', 'cancelado', 'preenchido')),
    -- Julia reserves for a doctor who accepted; an operator confirms
    reserved_doctor_id       bigint REFERENCES doctors (id) ON DELETE SET NULL,
    reserved_at              timestamptz,
    confirmed_at             timestamptz,
    confirmed_by             text,
    notes                    text,                   -- requirements (RQE, ...), shown to doctors
    -- idempotent import key; for CSVs without an id, the importer derives one from
    -- hospital + specialty + sector + starts_at
    external_ref             text UNIQUE,
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at),
    CHECK (pay_min_cents IS NULL OR pay_max_cents IS NULL OR pay_min_cents <= pay_max_cents)
);
COMMENT ON TABLE shifts IS
    'Plantões. status aberto -> reservado (by Julia) -> confirmado (by an operator) -> preenchido; pay fixed, range or a combinar.';
-- search_shifts tool and campaign matching: open shifts of a specialty in a date window
CREATE INDEX shifts_open_specialty_starts_idx ON shifts (specialty_id, starts_at)
    WHERE status = 'aberto';
CREATE INDEX shifts_status_starts_idx ON shifts (status, starts_at);
CREATE INDEX shifts_hospital_starts_idx ON shifts (hospital_id, starts_at);
CREATE INDEX shifts_reserved_doctor_idx ON shifts (reserved_doctor_id)
    WHERE reserved_doctor_id IS NOT NULL;
CREATE TRIGGER shifts_updated_at BEFORE UPDATE ON shifts
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- ---------------------------------------------------------------------------------------
-- Campaigns
-- ---------------------------------------------------------------------------------------

CREATE TABLE campaigns (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text NOT NULL,
    kind         text NOT NULL
                 CHECK (kind IN ('descoberta', 'oferta', 'reativacao', 'followup', 'manual')),
    status       text NOT NULL DEFAULT 'rascunho'
                 CHECK (status IN ('rascunho', 'ativa', 'pausada', 'concluida', 'cancelada')),
    -- target definition: {"specialty_ids": [..], "regions": [..], "states": [..],
    -- "date_from": "...", "date_to": "..."}
    filters      jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(filters) = 'object'),
    -- operator's brief for the openers, or the Drive template used
    instructions text,
    template_ref text,
    -- started by the scheduler rather than by a person: PILOT_MODE blocks these
    autonomous   boolean NOT NULL DEFAULT false,
    created_by   text,
    started_at   timestamptz,
    paused_at    timestamptz,
    finished_at  timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE campaigns IS
    'Outreach campaigns. autonomous ones are blocked by PILOT_MODE; manual ones still run.';
CREATE INDEX campaigns_active_idx ON campaigns (status) WHERE status = 'ativa';
CREATE INDEX campaigns_created_idx ON campaigns (created_at DESC);
CREATE TRIGGER campaigns_updated_at BEFORE UPDATE ON campaigns
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- A join table rather than shift_ids bigint[]: real foreign keys, and "which campaigns
-- offer this shift" (to stop offering it once reserved) is an index lookup.
CREATE TABLE campaign_shifts (
    campaign_id bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    shift_id    bigint NOT NULL REFERENCES shifts (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (campaign_id, shift_id)
);
COMMENT ON TABLE campaign_shifts IS 'Shifts a campaign offers.';
CREATE INDEX campaign_shifts_shift_idx ON campaign_shifts (shift_id);

CREATE TABLE campaign_targets (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    campaign_id     bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    doctor_id       bigint NOT NULL REFERENCES doctors (id) ON DELETE CASCADE,
    status          text NOT NULL DEFAULT 'pendente'
                    CHECK (status IN ('pendente', 'enviado', 'adiado', 'bloqueado', 'respondeu', 'cancelado')),
    next_attempt_at timestamptz,                     -- NULL = as soon as allowed
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_reason     text,                            -- gateway rule that deferred/blocked it
    contacted_at    timestamptz,
    responded_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (campaign_id, doctor_id)
);
COMMENT ON TABLE campaign_targets IS
    'Doctors selected for a campaign and where each stands; unique per (campaign, doctor).';
-- the campaign job: due targets of a campaign
CREATE INDEX campaign_targets_due_idx ON campaign_targets (campaign_id, status, next_attempt_at);
-- a reply / opt-out / handoff stops every campaign for that doctor
CREATE INDEX campaign_targets_doctor_idx ON campaign_targets (doctor_id);
CREATE TRIGGER campaign_targets_updated_at BEFORE UPDATE ON campaign_targets
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- ---------------------------------------------------------------------------------------
-- Conversations, turns, messages
-- ---------------------------------------------------------------------------------------

CREATE TABLE conversations (
    id                       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    doctor_id                bigint NOT NULL REFERENCES doctors (id) ON DELETE CASCADE,
    chip_id                  bigint REFERENCES chips (id) ON DELETE SET NULL,
    status                   text NOT NULL DEFAULT 'ativa' CHECK (status IN ('ativa', 'encerrada')),
    -- who speaks: while 'humano', Julia stays silent
    control                  text NOT NULL DEFAULT 'julia' CHECK (control IN ('julia', 'humano')),
    control_changed_at       timestamptz,
    control_reason           text,
    campaign_id              bigint REFERENCES campaigns (id) ON DELETE SET NULL,  -- opened by
    chatwoot_conversation_id bigint,
    -- rolling summary of older messages, so long conversations keep short prompts
    summary                  text,
    last_message_at          timestamptz,
    last_inbound_at          timestamptz,
    last_turn_at             timestamptz,
    closed_at                timestamptz,
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE conversations IS
    'A doctor''s thread with Julia. At most one ''ativa'' per doctor; control says whether Julia or a human speaks.';
-- one live conversation per doctor: concurrent webhooks race on this, the loser re-reads.
-- Also the anti-join "not in a live conversation" for campaign targeting.
CREATE UNIQUE INDEX conversations_one_active_per_doctor ON conversations (doctor_id)
    WHERE status = 'ativa';
CREATE INDEX conversations_doctor_idx ON conversations (doctor_id, created_at DESC);
CREATE INDEX conversations_human_idx ON conversations (control_changed_at)
    WHERE control = 'humano';
CREATE INDEX conversations_last_message_idx ON conversations (last_message_at DESC);
CREATE INDEX conversations_chatwoot_idx ON conversations (chatwoot_conversation_id)
    WHERE chatwoot_conversation_id IS NOT NULL;
CREATE INDEX conversations_campaign_idx ON conversations (campaign_id) WHERE campaign_id IS NOT NULL;
CREATE TRIGGER conversations_updated_at BEFORE UPDATE ON conversations
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE turns (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conversation_id    bigint NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    -- skipped: a gate (pausado, humano, opt-out) stopped it before the model
    status             text NOT NULL DEFAULT 'running'
                       CHECK (status IN ('running', 'ok', 'failed', 'skipped')),
    job_id             text,                         -- ARQ job id, for tracing
    model              text,
    llm_calls          integer NOT NULL DEFAULT 0 CHECK (llm_calls >= 0),
    input_tokens       integer NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
    output_tokens      integer NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
    cache_read_tokens  integer NOT NULL DEFAULT 0 CHECK (cache_read_tokens >= 0),
    cache_write_tokens integer NOT NULL DEFAULT 0 CHECK (cache_write_tokens >= 0),
    cost_usd           numeric(12, 6) NOT NULL DEFAULT 0,
    tool_calls         integer NOT NULL DEFAULT 0 CHECK (tool_calls >= 0),
    error              text,
    started_at         timestamptz NOT NULL DEFAULT now(),
    finished_at        timestamptz
);
COMMENT ON TABLE turns IS
    'One worker turn over a burst of inbound messages: model, token usage, cost, outcome.';
CREATE INDEX turns_conversation_idx ON turns (conversation_id, started_at DESC);
CREATE INDEX turns_started_idx ON turns (started_at);          -- metrics: today's cost, error rate
CREATE INDEX turns_running_idx ON turns (started_at) WHERE status = 'running';  -- stuck turns

-- The gateway's ledger: every message to a doctor (or the manager) is a row here, written
-- with its idempotency key before the send, so a re-run job finds it instead of re-sending.
-- Every decision is kept: status + reason say which rule deferred/blocked/cancelled it.
CREATE TABLE outbound_sends (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- e.g. 'turn:<turn_id>:<part>', 'campaign:<campaign_id>:<doctor_id>', 'followup:<id>'
    idempotency_key     text NOT NULL UNIQUE,
    kind                text NOT NULL
                        CHECK (kind IN ('reply', 'campaign', 'followup', 'reactivation', 'relay', 'system')),
    -- proactive sends are the ones under business hours and chip/doctor caps
    proactive           boolean NOT NULL,
    doctor_id           bigint REFERENCES doctors (id) ON DELETE CASCADE,  -- NULL for 'system'
    to_phone            text NOT NULL CHECK (to_phone ~ '^[1-9][0-9]{7,14}$'),
    conversation_id     bigint REFERENCES conversations (id) ON DELETE SET NULL,
    turn_id             bigint REFERENCES turns (id) ON DELETE SET NULL,
    chip_id             bigint REFERENCES chips (id) ON DELETE SET NULL,
    instance            text,                        -- instance actually used (survives chip deletion)
    campaign_id         bigint REFERENCES campaigns (id) ON DELETE SET NULL,
    body                text NOT NULL,
    status              text NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'sent', 'deferred', 'blocked', 'cancelled', 'failed')),
    reason              text,                        -- rule: 'pausado', 'opt_out', 'horario', 'cap_hora_chip', ...
    not_before          timestamptz NOT NULL DEFAULT now(),
    attempts            integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    provider_message_id text,
    error               text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    decided_at          timestamptz,
    sent_at             timestamptz,
    updated_at          timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE outbound_sends IS
    'Ledger of the single outbound gateway: one row per message with idempotency key, decision, reason and timing.';
-- dispatcher: what is due. Partial, since sent/blocked rows are never picked again.
CREATE INDEX outbound_sends_due_idx ON outbound_sends (status, not_before)
    WHERE status IN ('pending', 'deferred');
-- rolling-hour / São Paulo-day caps and pacing per chip
CREATE INDEX outbound_sends_chip_sent_idx ON outbound_sends (chip_id, sent_at)
    WHERE sent_at IS NOT NULL;
-- per-doctor proactive caps (48 h, per week)
CREATE INDEX outbound_sends_doctor_proactive_idx ON outbound_sends (doctor_id, sent_at)
    WHERE proactive;
-- opt-out cancels everything already queued for the doctor
CREATE INDEX outbound_sends_doctor_queued_idx ON outbound_sends (doctor_id)
    WHERE status IN ('pending', 'deferred');
-- "fromMe whose id Julia did not send": look the echo's id up here. Not unique on purpose:
-- a constraint error after a real send would lose the record and cause a re-send.
CREATE INDEX outbound_sends_provider_idx ON outbound_sends (provider_message_id)
    WHERE provider_message_id IS NOT NULL;
-- metrics: today's sent/deferred/blocked by reason
CREATE INDEX outbound_sends_decided_idx ON outbound_sends (decided_at);
CREATE INDEX outbound_sends_campaign_idx ON outbound_sends (campaign_id) WHERE campaign_id IS NOT NULL;
CREATE TRIGGER outbound_sends_updated_at BEFORE UPDATE ON outbound_sends
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE messages (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- NULL only while the sender is unresolved (an @lid without remoteJidAlt); re-linked later
    conversation_id     bigint REFERENCES conversations (id) ON DELETE CASCADE,
    doctor_id           bigint REFERENCES doctors (id) ON DELETE CASCADE,
    direction           text NOT NULL CHECK (direction IN ('in', 'out')),
    author              text NOT NULL CHECK (author IN ('doctor', 'julia', 'human', 'system')),
    instance            text,                        -- Evolution instance it came through / left from
    provider_message_id text,                        -- data.key.id
    remote_jid          text,
    message_type        text NOT NULL DEFAULT 'text', -- conversation, imageMessage, audioMessage, ...
    body                text,                        -- text or caption
    media               jsonb,                       -- {kind, mimetype, seconds, ptt, url, ...}
    quoted_id           text,                        -- provider id of the quoted message
    raw                 jsonb,                       -- the webhook's data, as received
    sent_at             timestamptz,                 -- provider time (messageTimestamp)
    -- inbound: NULL until a turn consumed it
    processed_at        timestamptz,
    turn_id             bigint REFERENCES turns (id) ON DELETE SET NULL,
    outbound_send_id    bigint REFERENCES outbound_sends (id) ON DELETE SET NULL,
    -- receipts from messages.update (Evolution's statuses, lower-cased)
    delivery_status     text CHECK (delivery_status IN
                            ('pending', 'server_ack', 'delivery_ack', 'read', 'played', 'error')),
    delivery_status_at  timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    -- Dedup of webhook deliveries: INSERT ... ON CONFLICT (instance, provider_message_id)
    -- DO NOTHING. A plain UNIQUE behaves like the partial "WHERE provider_message_id IS NOT
    -- NULL" index (NULLs are distinct) but lets ON CONFLICT name the columns without
    -- repeating a predicate.
    UNIQUE (instance, provider_message_id)
);
COMMENT ON TABLE messages IS
    'Every WhatsApp message in and out. (instance, provider_message_id) dedupes webhook deliveries; processed_at marks inbound consumed by a turn.';
CREATE INDEX messages_conversation_idx ON messages (conversation_id, created_at);
CREATE INDEX messages_doctor_idx ON messages (doctor_id, created_at DESC);
-- debounce/turn pickup and the sweep for messages nobody answered: tiny, only unconsumed rows
CREATE INDEX messages_unprocessed_in_idx ON messages (conversation_id, created_at)
    WHERE direction = 'in' AND processed_at IS NULL;
-- unresolved senders waiting for their lid to be learned
CREATE INDEX messages_unlinked_idx ON messages (remote_jid) WHERE doctor_id IS NULL;
CREATE INDEX messages_created_idx ON messages (created_at);  -- metrics, retention

-- ---------------------------------------------------------------------------------------
-- Raw deliveries
-- ---------------------------------------------------------------------------------------

CREATE TABLE webhook_events (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source       text NOT NULL CHECK (source IN ('evolution', 'chatwoot', 'slack')),
    event        text,                               -- messages.upsert, message_created, ...
    instance     text,
    -- the caller composes a key unique per delivery *meaning*, not just per message:
    -- messages.upsert and messages.update share key.id, so for Evolution use e.g.
    -- '<instance>:<event>:<key.id>[:<status>]'. NULL = not deduplicable, always kept.
    provider_id  text,
    payload      jsonb NOT NULL,
    status       text NOT NULL DEFAULT 'received'
                 CHECK (status IN ('received', 'processed', 'ignored', 'failed')),
    error        text,
    received_at  timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz,
    -- plain UNIQUE = the partial index on provider_id IS NOT NULL (NULLs are distinct)
    UNIQUE (source, provider_id)
);
COMMENT ON TABLE webhook_events IS
    'Raw store of every Evolution/Chatwoot/Slack delivery, for audit, replay and dedup.';
CREATE INDEX webhook_events_received_idx ON webhook_events (received_at);
CREATE INDEX webhook_events_pending_idx ON webhook_events (received_at)
    WHERE status = 'received';

-- ---------------------------------------------------------------------------------------
-- Handoffs, memories, follow-ups
-- ---------------------------------------------------------------------------------------

CREATE TABLE handoffs (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conversation_id bigint NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    doctor_id       bigint NOT NULL REFERENCES doctors (id) ON DELETE CASCADE,
    reason          text,
    trigger         text NOT NULL CHECK (trigger IN ('pedido', 'juridico', 'negativo', 'modelo',
                        'llm_indisponivel', 'operador', 'humano_no_telefone', 'chatwoot')),
    status          text NOT NULL DEFAULT 'aberto' CHECK (status IN ('aberto', 'devolvido')),
    requested_at    timestamptz NOT NULL DEFAULT now(),
    notified_at     timestamptz,                     -- manager told (Slack/Chatwoot)
    resolved_at     timestamptz,
    resolved_by     text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE handoffs IS
    'Human takeovers: why, when, notified, handed back by whom. At most one open per conversation.';
-- two triggers racing (e.g. a legal word and the model's tool) open one handoff, not two
CREATE UNIQUE INDEX handoffs_one_open_per_conversation ON handoffs (conversation_id)
    WHERE status = 'aberto';
CREATE INDEX handoffs_open_idx ON handoffs (requested_at) WHERE status = 'aberto';
CREATE INDEX handoffs_requested_idx ON handoffs (requested_at);
CREATE INDEX handoffs_doctor_idx ON handoffs (doctor_id);
CREATE TRIGGER handoffs_updated_at BEFORE UPDATE ON handoffs
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE memories (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    doctor_id         bigint NOT NULL REFERENCES doctors (id) ON DELETE CASCADE,
    kind              text NOT NULL,                 -- preferencia, disponibilidade, restricao, ... (model-chosen)
    content           text NOT NULL CHECK (content <> ''),
    -- voyage-3.5-lite, 1024 d; NULL when no VOYAGE_API_KEY or not embedded yet
    embedding         vector(1024),
    embedding_model   text,
    source_message_id bigint REFERENCES messages (id) ON DELETE SET NULL,
    created_at        timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE memories IS
    'Facts a doctor revealed, with optional embeddings for retrieval; recency fallback without embeddings.';
-- recency fallback, and the per-doctor candidate set for similarity ranking
CREATE INDEX memories_doctor_created_idx ON memories (doctor_id, created_at DESC);
-- a retried save_memory tool call must not store the same fact twice
CREATE UNIQUE INDEX memories_doctor_content_uniq ON memories (doctor_id, md5(content));
-- Approximate search across memories. For one doctor (a few dozen rows) the exact scan via
-- memories_doctor_created_idx is both faster and complete; a filtered HNSW scan can return
-- too few rows unless hnsw.iterative_scan is on (pgvector >= 0.8).
CREATE INDEX memories_embedding_hnsw_idx ON memories USING hnsw (embedding vector_cosine_ops);

CREATE TABLE followups (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    doctor_id        bigint NOT NULL REFERENCES doctors (id) ON DELETE CASCADE,
    conversation_id  bigint NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    campaign_id      bigint REFERENCES campaigns (id) ON DELETE SET NULL,
    -- cadencia: the ~48 h / ~5 d / ~15 d steps after an unanswered opener;
    -- lembrete: a reminder the doctor asked for ("me chama segunda"), no step
    kind             text NOT NULL DEFAULT 'cadencia' CHECK (kind IN ('cadencia', 'lembrete')),
    step             integer CHECK (step >= 1),
    due_at           timestamptz NOT NULL,
    note             text,                           -- context for the message Julia writes
    status           text NOT NULL DEFAULT 'agendado'
                     CHECK (status IN ('agendado', 'enviado', 'cancelado')),
    cancel_reason    text,                           -- 'respondeu', 'opt_out', 'handoff', ...
    outbound_send_id bigint REFERENCES outbound_sends (id) ON DELETE SET NULL,
    sent_at          timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (kind = 'lembrete' OR step IS NOT NULL),
    -- each cadence step once per conversation (reminders have NULL step: not constrained)
    UNIQUE (conversation_id, step)
);
COMMENT ON TABLE followups IS
    'Scheduled follow-ups (cadence steps) and doctor-requested reminders; cancelled by a reply, opt-out or handoff.';
CREATE INDEX followups_due_idx ON followups (due_at) WHERE status = 'agendado';
CREATE INDEX followups_doctor_scheduled_idx ON followups (doctor_id) WHERE status = 'agendado';
CREATE TRIGGER followups_updated_at BEFORE UPDATE ON followups
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- ---------------------------------------------------------------------------------------
-- Operations
-- ---------------------------------------------------------------------------------------

-- Exactly as the spec/CONTRACT: the runbook inserts into it by hand. Newest row wins; no rows
-- means ativo (nothing here or in code writes 'ativo' by itself). The row history is the audit.
CREATE TABLE julia_status (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    status       text NOT NULL CHECK (status IN ('ativo', 'pausado')),  -- values may be added later
    motivo       text,
    alterado_via text NOT NULL DEFAULT 'manual',     -- manual (SQL), slack, api, cli, ...
    alterado_por text,
    created_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE julia_status IS
    'Operator switch (ativo/pausado). Newest row wins (ORDER BY created_at DESC, id DESC); no rows = ativo.';
-- id breaks ties between rows inserted in one transaction (same now())
CREATE INDEX julia_status_created_idx ON julia_status (created_at DESC, id DESC);

CREATE TABLE job_runs (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_name    text NOT NULL,
    -- the scheduled fire time; (job_name, slot) makes a tick run once even with two
    -- schedulers or a retry (a failed slot is re-claimed by UPDATE, not a second row)
    slot        timestamptz NOT NULL,
    status      text NOT NULL DEFAULT 'running'
                CHECK (status IN ('running', 'ok', 'failed', 'skipped')),  -- skipped: PILOT_MODE, pausado
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    duration_ms integer CHECK (duration_ms >= 0),
    error       text,
    host        text,                                -- process/replica that ran it
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (job_name, slot)
);
COMMENT ON TABLE job_runs IS
    'Scheduler job executions, one row per (job, time slot): idempotency and the ops history.';
CREATE INDEX job_runs_name_started_idx ON job_runs (job_name, started_at DESC);
CREATE INDEX job_runs_started_idx ON job_runs (started_at);

CREATE TABLE briefings (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    file_id       text NOT NULL,                     -- Google Drive file id
    modified_time timestamptz NOT NULL,              -- Drive modifiedTime: a new version = a new row
    title         text,
    content       text NOT NULL,
    directives    jsonb NOT NULL DEFAULT '{}',       -- parsed sections: foco, vagas prioritarias, tom, ...
    content_hash  text,                              -- skip re-announcing an edit that changed nothing
    synced_at     timestamptz NOT NULL DEFAULT now(),
    announced_at  timestamptz,                       -- Slack "briefing changed" sent
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (file_id, modified_time)
);
COMMENT ON TABLE briefings IS
    'Synced versions of the weekly manager briefing (Drive); the newest is injected into Julia''s instructions.';
CREATE INDEX briefings_modified_idx ON briefings (modified_time DESC);

CREATE TABLE notifications (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key        text NOT NULL,                        -- dedup key, e.g. 'circuit_open:anthropic'
    kind       text NOT NULL,                        -- handoff, paused, alert, recovery, daily_report, ...
    severity   text NOT NULL DEFAULT 'info' CHECK (severity IN ('info', 'warning', 'critical')),
    payload    jsonb NOT NULL DEFAULT '{}',
    sent_at    timestamptz NOT NULL DEFAULT now(),
    error      text,                                 -- NULL = delivered
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE notifications IS
    'Alerts and notices sent to Slack: audit and cooldown lookups (latest per key).';
CREATE INDEX notifications_key_sent_idx ON notifications (key, sent_at DESC);

CREATE TABLE slack_events (
    event_id    text PRIMARY KEY,                    -- Slack's event_id: retries dedupe here
    received_at timestamptz NOT NULL DEFAULT now(),
    command     text,
    user_id     text,
    channel     text,
    ts          text,
    status      text NOT NULL DEFAULT 'received'
                CHECK (status IN ('received', 'done', 'ignored', 'failed')),
    error       text,
    finished_at timestamptz
);
COMMENT ON TABLE slack_events IS 'Slack Events API deliveries, deduplicated by event_id; operator command audit.';
CREATE INDEX slack_events_received_idx ON slack_events (received_at);

-- ---------------------------------------------------------------------------------------
-- Supabase exposes the public schema through PostgREST to anyone with the anon key. The
-- service connects as the tables' owner (or service_role), which bypasses RLS, so enabling
-- RLS with no policies closes the REST door on doctors' personal data and changes nothing
-- for the app, the SQL editor or the runbook.
-- ---------------------------------------------------------------------------------------
ALTER TABLE specialties      ENABLE ROW LEVEL SECURITY;
ALTER TABLE hospitals        ENABLE ROW LEVEL SECURITY;
ALTER TABLE chips            ENABLE ROW LEVEL SECURITY;
ALTER TABLE doctors          ENABLE ROW LEVEL SECURITY;
ALTER TABLE shifts           ENABLE ROW LEVEL SECURITY;
ALTER TABLE campaigns        ENABLE ROW LEVEL SECURITY;
ALTER TABLE campaign_shifts  ENABLE ROW LEVEL SECURITY;
ALTER TABLE campaign_targets ENABLE ROW LEVEL SECURITY;
ALTER TABLE conversations    ENABLE ROW LEVEL SECURITY;
ALTER TABLE turns            ENABLE ROW LEVEL SECURITY;
ALTER TABLE outbound_sends   ENABLE ROW LEVEL SECURITY;
ALTER TABLE messages         ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_events   ENABLE ROW LEVEL SECURITY;
ALTER TABLE handoffs         ENABLE ROW LEVEL SECURITY;
ALTER TABLE memories         ENABLE ROW LEVEL SECURITY;
ALTER TABLE followups        ENABLE ROW LEVEL SECURITY;
ALTER TABLE julia_status     ENABLE ROW LEVEL SECURITY;
ALTER TABLE job_runs         ENABLE ROW LEVEL SECURITY;
ALTER TABLE briefings        ENABLE ROW LEVEL SECURITY;
ALTER TABLE notifications    ENABLE ROW LEVEL SECURITY;
ALTER TABLE slack_events     ENABLE ROW LEVEL SECURITY;
