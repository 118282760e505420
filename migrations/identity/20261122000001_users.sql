-- Users, and the outbox of user events.
CREATE TABLE users (
    id            uuid PRIMARY KEY,
    email         text NOT NULL,
    username      text NOT NULL,
    full_name     text,
    role          text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'operator', 'admin')),
    disabled      boolean NOT NULL DEFAULT false,
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Uniqueness is case-insensitive; the spelling the user chose is kept.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
CREATE INDEX users_role_idx ON users (role);
CREATE INDEX users_created_at_idx ON users (created_at, id);

CREATE TABLE identity_outbox (
    id           bigserial PRIMARY KEY,
    event_type   text NOT NULL,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX identity_outbox_pending_idx ON identity_outbox (id) WHERE published_at IS NULL;
