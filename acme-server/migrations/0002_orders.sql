-- Orders, their authorizations and challenges, and the validated Wire token data, which
-- lives on the order that owns the authorization (protocol doc §6.1 step 11, §6.3 step 6).
CREATE TABLE orders (
    id TEXT PRIMARY KEY,
    provisioner TEXT NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    status TEXT NOT NULL,
    identifiers TEXT NOT NULL,
    not_before TEXT,
    not_after TEXT,
    error TEXT,
    dpop_claims TEXT,
    oidc_claims TEXT,
    certificate_id TEXT,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX orders_account ON orders (account_id, created_at);
CREATE TABLE authorizations (
    id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    identifier_type TEXT NOT NULL,
    identifier_value TEXT NOT NULL,
    status TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX authorizations_order ON authorizations (order_id);
CREATE TABLE challenges (
    id TEXT PRIMARY KEY,
    authz_id TEXT NOT NULL REFERENCES authorizations (id) ON DELETE CASCADE,
    type TEXT NOT NULL,
    status TEXT NOT NULL,
    token TEXT NOT NULL,
    target TEXT,
    validated_at BIGINT,
    error TEXT
);
CREATE INDEX challenges_authz ON challenges (authz_id);
