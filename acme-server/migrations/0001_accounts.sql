-- ACME nonces and accounts. Portable SQL (SQLite and PostgreSQL).
CREATE TABLE acme_nonces (
    nonce TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);
CREATE INDEX acme_nonces_created ON acme_nonces (created_at);
CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    provisioner TEXT NOT NULL,
    jwk TEXT NOT NULL,
    thumbprint TEXT NOT NULL,
    status TEXT NOT NULL,
    contact TEXT NOT NULL,
    terms_agreed BIGINT NOT NULL,
    eab_kid TEXT,
    created_at BIGINT NOT NULL,
    UNIQUE (provisioner, thumbprint)
);
