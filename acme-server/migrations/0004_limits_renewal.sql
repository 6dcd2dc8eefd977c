-- Rate-limit events (one row per counted request, swept once older than the longest period),
-- and the ARI link from a certificate to the order that replaces it (RFC 9773 §5).
CREATE TABLE rate_events (
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX rate_events_lookup ON rate_events (kind, subject, at);
ALTER TABLE certificates ADD COLUMN replaced_by TEXT;
-- When an order entered `processing`: one left there by a crash mid-issuance becomes `ready`
-- again after a while, so that finalize can be retried (nothing was handed out).
ALTER TABLE orders ADD COLUMN processing_at BIGINT;
