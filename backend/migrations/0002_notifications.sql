-- Per-client notification queues. Ids are time-ordered UUIDv7 text: text order is time order.
CREATE TABLE notifications (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    id TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id, id)
);
CREATE INDEX notifications_created ON notifications (created_at);
