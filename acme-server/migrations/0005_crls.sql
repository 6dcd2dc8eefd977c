-- CRL publishing (RFC 5280 §5). Each certificate's shard (baked into its CRL distribution point
-- at issuance) and the identity it certifies, for revocation by client or user; the CRLs as
-- published, one row per shard, replaced in the same transaction that advances the CRL number;
-- and the counters that tell a replica whether revocations are waiting to be published.
ALTER TABLE certificates ADD COLUMN shard BIGINT NOT NULL DEFAULT 0;
ALTER TABLE certificates ADD COLUMN client_id TEXT;
ALTER TABLE certificates ADD COLUMN handle TEXT;
CREATE INDEX certificates_client ON certificates (client_id);
CREATE INDEX certificates_handle ON certificates (handle);
CREATE INDEX certificates_revoked ON certificates (revoked_at);
CREATE TABLE crls (
    shard BIGINT PRIMARY KEY,
    crl_number BIGINT NOT NULL,
    this_update BIGINT NOT NULL,
    next_update BIGINT NOT NULL,
    der_b64 TEXT NOT NULL,
    etag TEXT NOT NULL
);
CREATE TABLE crl_state (
    id BIGINT PRIMARY KEY,
    last_number BIGINT NOT NULL,
    revocations BIGINT NOT NULL,
    published_revocations BIGINT NOT NULL
);
INSERT INTO crl_state (id, last_number, revocations, published_revocations) VALUES (1, 0, 0, -1)
