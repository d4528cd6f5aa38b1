-- Migration 4 for PostgreSQL (SQLite's migration 4): the review queue (src/review/review.h).
-- Review items are bound to the request they gate; their status moves only by conditional
-- UPDATEs. Votes: one per key and one per member of an item. Both tables have forced row-level
-- security; the composite foreign key keeps a vote in its item's org.

INSERT INTO bulwark_schema (version) VALUES (4);

CREATE TABLE review_items (
    id               text PRIMARY KEY,
    org_id           text NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    agent            text NOT NULL DEFAULT '',
    requester_key    text NOT NULL,
    requester_member text NOT NULL DEFAULT '',
    route            text NOT NULL,
    model            text NOT NULL DEFAULT '',
    rule             text NOT NULL DEFAULT '',
    reviewer_role    text NOT NULL,
    request_sha256   bytea NOT NULL CHECK (length(request_sha256) = 32),
    quorum           integer NOT NULL CHECK (quorum BETWEEN 1 AND 16),
    approvals        integer NOT NULL DEFAULT 0 CHECK (approvals >= 0),
    status           text NOT NULL
                     CHECK (status IN ('pending', 'approved', 'denied', 'expired', 'used')),
    created_ms       bigint NOT NULL,
    expires_ms       bigint NOT NULL,
    decided_ms       bigint NOT NULL DEFAULT 0,
    used_ms          bigint NOT NULL DEFAULT 0,
    decision_receipt text NOT NULL DEFAULT '',
    UNIQUE (org_id, id)
);
CREATE INDEX review_items_org_status ON review_items (org_id, status, created_ms);

CREATE TABLE review_votes (
    org_id     text NOT NULL,
    review_id  text NOT NULL,
    key_id     text NOT NULL,
    member_id  text NOT NULL DEFAULT '',
    vote       text NOT NULL CHECK (vote IN ('approve', 'deny')),
    comment    text NOT NULL DEFAULT '',
    receipt_id text NOT NULL DEFAULT '',
    created_ms bigint NOT NULL,
    PRIMARY KEY (org_id, review_id, key_id),
    FOREIGN KEY (org_id, review_id) REFERENCES review_items (org_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX review_votes_member ON review_votes (org_id, review_id, member_id)
    WHERE member_id <> '';

ALTER TABLE review_items ENABLE ROW LEVEL SECURITY;
ALTER TABLE review_items FORCE ROW LEVEL SECURITY;
CREATE POLICY review_items_tenant ON review_items
    USING (org_id = current_setting('app.org_id', true))
    WITH CHECK (org_id = current_setting('app.org_id', true));
ALTER TABLE review_votes ENABLE ROW LEVEL SECURITY;
ALTER TABLE review_votes FORCE ROW LEVEL SECURITY;
CREATE POLICY review_votes_tenant ON review_votes
    USING (org_id = current_setting('app.org_id', true))
    WITH CHECK (org_id = current_setting('app.org_id', true));
