-- SCIM 2.0 provisioning (RFC 7643/7644). Times are Unix milliseconds here: SCIM's
-- meta.lastModified is compared and sorted on.

-- A SCIM-managed user: the backend's own user row (handle = lower-cased userName, name =
-- display name, e-mail, team) plus the SCIM document and the indexed attributes filters use.
CREATE TABLE scim_users (
    user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    team_id TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_name TEXT NOT NULL,
    external_id TEXT,
    display_name TEXT NOT NULL,
    active BIGINT NOT NULL,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    document TEXT NOT NULL
);
CREATE UNIQUE INDEX scim_users_team_name ON scim_users (team_id, user_name);
CREATE INDEX scim_users_team_external ON scim_users (team_id, external_id);
CREATE INDEX scim_users_team_updated ON scim_users (team_id, updated_at);

CREATE TABLE scim_groups (
    id TEXT PRIMARY KEY,
    team_id TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    display_name TEXT NOT NULL,
    external_id TEXT,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    document TEXT NOT NULL
);
CREATE INDEX scim_groups_team_name ON scim_groups (team_id, display_name);
CREATE INDEX scim_groups_team_external ON scim_groups (team_id, external_id);

CREATE TABLE scim_group_members (
    group_id TEXT NOT NULL REFERENCES scim_groups (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX scim_group_members_user ON scim_group_members (user_id);

-- Per-team SCIM bearer tokens, stored as SHA-256 (hex) of the token.
CREATE TABLE scim_tokens (
    id TEXT PRIMARY KEY,
    team_id TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    token_sha256 TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX scim_tokens_team ON scim_tokens (team_id);

-- Certificates to revoke at the identity authority, written in the same transaction as the
-- deprovisioning that calls for them and delivered (with retries) afterwards: a crash or an
-- unreachable authority delays a revocation, never loses it. Ids are UUIDv7 (time order).
CREATE TABLE revocation_outbox (
    id TEXT PRIMARY KEY,
    client_uri TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT
);
CREATE INDEX revocation_outbox_due ON revocation_outbox (next_attempt_at);
