-- Webhooks: a user's endpoints, and one delivery per notification (and per test event)
-- for each of them, sent by the app's delivery worker.

CREATE TABLE webhooks (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL,
    url text NOT NULL CHECK (length(url) <= 2048),
    description text CHECK (length(description) <= 1000),
    -- `whsec_` + base64 of the signing key; returned once, at creation, never logged.
    secret text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    disabled boolean NOT NULL DEFAULT false,
    disabled_at timestamptz,
    -- Since when every attempt has failed (NULL after a success): 24 h of it disables
    -- the webhook.
    failing_since timestamptz
);
CREATE INDEX webhooks_user ON webhooks (user_id, created_at DESC);

CREATE TABLE webhook_deliveries (
    -- Also the `webhook-id` header, the same on every attempt.
    id uuid PRIMARY KEY,
    webhook_id uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event text NOT NULL,
    -- The event's `data`.
    payload jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    -- Attempts started; counted when an attempt is claimed, so it is also the attempt a
    -- worker holds (a finished attempt is recorded only by the worker that claimed it).
    attempts integer NOT NULL DEFAULT 0,
    last_status integer,
    last_error text,
    -- When the next attempt is due; while an attempt is in flight, the end of its lease
    -- (a worker that died leaves it to be claimed again then). NULL once finished.
    next_attempt_at timestamptz DEFAULT now(),
    finished_at timestamptz
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, created_at DESC, id DESC);

-- What a notification is about: a watched company's change, or a webhook disabled after
-- a day of failed deliveries.
ALTER TABLE notifications
    ADD COLUMN kind text NOT NULL DEFAULT 'company.changed'
        CHECK (kind IN ('company.changed', 'webhook.disabled'));
