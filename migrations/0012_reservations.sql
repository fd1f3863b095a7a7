-- 0012_reservations: the shift-reservation loop closed by the team.
--
-- Julia reserves a shift for a doctor who accepted it; each reservation gets a short code
-- the operators type in Slack (`@julia confirmar <código>`), the dashboard or the CLI. A
-- pending reservation is re-announced once, then released when its window passes. After a
-- confirmed shift ends the team says whether it happened; the answer stays on the shift.
-- `shift_offers` remembers which shifts Julia showed in which conversation, so an offer of
-- a shift that is gone is withdrawn there. Manager notices on WhatsApp (GESTOR_WHATSAPP)
-- and the messages of the loop go through the one gateway under their own kinds.

CREATE TABLE reservations (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code             text NOT NULL UNIQUE CHECK (code ~ '^[A-Z0-9]{4,8}$'),
    shift_id         bigint NOT NULL REFERENCES shifts (id) ON DELETE CASCADE,
    doctor_id        bigint NOT NULL REFERENCES doctors (id) ON DELETE CASCADE,
    conversation_id  bigint REFERENCES conversations (id) ON DELETE SET NULL,
    status           text NOT NULL DEFAULT 'pendente'
                     CHECK (status IN ('pendente', 'confirmada', 'liberada', 'expirada')),
    reserved_at      timestamptz NOT NULL,
    reannounced_at   timestamptz,                    -- the one reminder to the team
    decided_at       timestamptz,
    decided_by       text,                           -- Slack user id, dashboard sub, CLI user
    decided_via      text,                           -- slack, api, cli, prazo
    motivo           text,                           -- why it was released (for the team)
    reminded_at      timestamptz,                    -- the doctor's day-before reminder
    outcome_asked_at timestamptz,                    -- the team was asked whether it happened
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE reservations IS
    'Reservations Julia made: pendente -> confirmada (operator) | liberada (operator) | expirada (window passed).';
-- At most one live reservation per shift.
CREATE UNIQUE INDEX reservations_live_shift_idx ON reservations (shift_id)
    WHERE status IN ('pendente', 'confirmada');
CREATE INDEX reservations_pending_idx ON reservations (reserved_at) WHERE status = 'pendente';
CREATE INDEX reservations_confirmed_idx ON reservations (shift_id) WHERE status = 'confirmada';
CREATE TRIGGER reservations_updated_at BEFORE UPDATE ON reservations
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Whether a confirmed shift happened, as the team answered after it ended.
ALTER TABLE shifts ADD COLUMN outcome text CHECK (outcome IN ('realizado', 'nao_ocorreu'));
ALTER TABLE shifts ADD COLUMN outcome_at timestamptz;
ALTER TABLE shifts ADD COLUMN outcome_by text;

CREATE TABLE shift_offers (
    conversation_id bigint NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    shift_id        bigint NOT NULL REFERENCES shifts (id) ON DELETE CASCADE,
    offered_at      timestamptz NOT NULL DEFAULT now(),
    withdrawn_at    timestamptz,                     -- the shift was filled or cancelled
    withdrawn_why   text CHECK (withdrawn_why IN ('preenchido', 'cancelado')),
    PRIMARY KEY (conversation_id, shift_id)
);
COMMENT ON TABLE shift_offers IS
    'Shifts Julia showed in a conversation (search results, alternatives); withdrawn when the shift is gone.';
CREATE INDEX shift_offers_open_idx ON shift_offers (shift_id) WHERE withdrawn_at IS NULL;

-- reserva: what Julia tells a doctor about a reservation (confirmed, released, reminder);
-- gestor: a notice to the manager's WhatsApp, never to a doctor.
ALTER TABLE outbound_sends DROP CONSTRAINT outbound_sends_kind_check;
ALTER TABLE outbound_sends ADD CONSTRAINT outbound_sends_kind_check
    CHECK (kind IN ('reply', 'campaign', 'followup', 'reactivation', 'relay', 'system',
                    'reserva', 'gestor'));

-- The Slack ts of a notice posted by the bot (chat.postMessage): its recovery replies in
-- that thread.
ALTER TABLE notifications ADD COLUMN slack_ts text;
