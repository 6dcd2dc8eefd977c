-- Portable SQL (SQLite and PostgreSQL): TEXT ids, BIGINT Unix seconds, BIGINT 0/1 flags.
CREATE TABLE teams (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    handle TEXT UNIQUE,
    email TEXT UNIQUE,
    password_hash TEXT,
    locale TEXT NOT NULL,
    team_id TEXT REFERENCES teams (id),
    role TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX users_team ON users (team_id);
CREATE TABLE cookies (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    cookie_id BIGINT NOT NULL,
    session BIGINT NOT NULL,
    label TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, cookie_id)
);
CREATE TABLE clients (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    temporary BIGINT NOT NULL,
    class TEXT,
    model TEXT,
    label TEXT,
    cookie_label TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
CREATE TABLE dpop_nonces (
    user_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    nonce TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id, nonce)
);
CREATE TABLE team_features (
    team_id TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    feature TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (team_id, feature)
);
