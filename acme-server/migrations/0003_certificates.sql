-- Issued certificates, recorded before they are returned.
CREATE TABLE certificates (
    id TEXT PRIMARY KEY,
    provisioner TEXT NOT NULL,
    order_id TEXT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    account_id TEXT NOT NULL,
    serial TEXT NOT NULL UNIQUE,
    chain_pem TEXT NOT NULL,
    not_after BIGINT NOT NULL,
    revoked_at BIGINT,
    revocation_reason BIGINT,
    created_at BIGINT NOT NULL
);
