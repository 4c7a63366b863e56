-- The metadata schema of data directories made before schema versions were numbered
-- (PRAGMA user_version 0), which the migrations call version 1.
CREATE TABLE IF NOT EXISTS vaults (
    account TEXT NOT NULL,
    name TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    last_inventory_ms INTEGER,
    archive_count INTEGER NOT NULL DEFAULT 0,
    size INTEGER NOT NULL DEFAULT 0,
    sns_topic TEXT,
    events TEXT,
    PRIMARY KEY (account, name)
);
CREATE TABLE IF NOT EXISTS archives (
    id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    vault TEXT NOT NULL,
    description TEXT NOT NULL,
    size INTEGER NOT NULL,
    tree_hash BLOB NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS archives_by_vault ON archives (account, vault, created_ms, id);
CREATE TABLE IF NOT EXISTS segments (
    archive_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    blob TEXT NOT NULL,
    size INTEGER NOT NULL,
    tree_hash BLOB NOT NULL,
    leaves BLOB NOT NULL,
    PRIMARY KEY (archive_id, seq)
);
CREATE TABLE IF NOT EXISTS uploads (
    id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    vault TEXT NOT NULL,
    description TEXT,
    part_size INTEGER NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS uploads_by_vault ON uploads (account, vault, id);
CREATE TABLE IF NOT EXISTS parts (
    upload_id TEXT NOT NULL,
    start INTEGER NOT NULL,
    blob TEXT NOT NULL,
    size INTEGER NOT NULL,
    tree_hash BLOB NOT NULL,
    leaves BLOB NOT NULL,
    PRIMARY KEY (upload_id, start)
);
CREATE INDEX IF NOT EXISTS segments_by_blob ON segments (blob);
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    account TEXT NOT NULL,
    vault TEXT NOT NULL,
    spec TEXT NOT NULL,
    description TEXT,
    sns_topic TEXT,
    created_ms INTEGER NOT NULL,
    due_ms INTEGER NOT NULL,
    status TEXT NOT NULL,
    status_message TEXT,
    completed_ms INTEGER,
    expires_ms INTEGER,
    output_size INTEGER,
    next_marker TEXT
);
CREATE INDEX IF NOT EXISTS jobs_by_vault ON jobs (account, vault, seq);
CREATE INDEX IF NOT EXISTS jobs_due ON jobs (status, due_ms);
CREATE INDEX IF NOT EXISTS jobs_expiry ON jobs (expires_ms);
CREATE TABLE IF NOT EXISTS job_segments (
    job_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    blob TEXT NOT NULL,
    size INTEGER NOT NULL,
    tree_hash BLOB NOT NULL,
    leaves BLOB NOT NULL,
    PRIMARY KEY (job_id, seq)
);
CREATE INDEX IF NOT EXISTS job_segments_by_blob ON job_segments (blob);
CREATE TABLE IF NOT EXISTS vault_tags (
    account TEXT NOT NULL,
    vault TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (account, vault, key)
);
CREATE TABLE IF NOT EXISTS vault_policies (
    account TEXT NOT NULL,
    vault TEXT NOT NULL,
    kind TEXT NOT NULL,
    policy TEXT NOT NULL,
    state TEXT,
    lock_id TEXT,
    created_ms INTEGER,
    expires_ms INTEGER,
    PRIMARY KEY (account, vault, kind)
);
CREATE TABLE IF NOT EXISTS account_settings (
    account TEXT PRIMARY KEY,
    retrieval_policy TEXT
);
CREATE TABLE IF NOT EXISTS retrievals (
    account TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    tier TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS retrievals_by_account ON retrievals (account, at_ms);
CREATE TABLE IF NOT EXISTS capacity_units (
    id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS completed_uploads (
    upload_id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    vault TEXT NOT NULL,
    archive_id TEXT NOT NULL,
    archive_size INTEGER NOT NULL,
    tree_hash BLOB NOT NULL,
    completed_ms INTEGER NOT NULL
);

-- Rows of every kind, as a data directory written before schema versions were numbered
-- (user_version 0) holds them.
INSERT INTO vaults (account, name, created_ms, last_inventory_ms, archive_count, size, sns_topic, events)
    VALUES ('111122223333', 'photos', 1700000000000, 1700000100000, 1, 5, 'arn:aws:sns:us-east-1:111122223333:t', '["ArchiveRetrievalCompleted"]');
INSERT INTO vaults (account, name, created_ms, archive_count, size) VALUES ('111122223333', 'empty', 1700000000001, 0, 0);
INSERT INTO archives (id, account, vault, description, size, tree_hash, created_ms)
    VALUES ('ARCHIVE1', '111122223333', 'photos', 'a photo', 5, X'2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824', 1700000000500);
INSERT INTO segments (archive_id, seq, blob, size, tree_hash, leaves)
    VALUES ('ARCHIVE1', 0, '0123456789abcdef0123456789abcdef', 5, X'2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824', X'2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824');
INSERT INTO uploads (id, account, vault, description, part_size, created_ms)
    VALUES ('UPLOAD1', '111122223333', 'photos', 'half done', 1048576, 1700000000600);
INSERT INTO parts (upload_id, start, blob, size, tree_hash, leaves)
    VALUES ('UPLOAD1', 0, 'fedcba9876543210fedcba9876543210', 5, X'2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824', X'2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824');
INSERT INTO jobs (id, account, vault, spec, description, sns_topic, created_ms, due_ms, status, status_message, completed_ms, expires_ms, output_size, next_marker)
    VALUES ('JOB1', '111122223333', 'photos', '{"Inventory":{"format":"JSON","start_date":null,"end_date":null,"limit":null,"marker":null}}', 'inv', NULL, 1700000000700, 1700000000700, 'InProgress', NULL, NULL, NULL, NULL, NULL);
INSERT INTO vault_tags (account, vault, key, value) VALUES ('111122223333', 'photos', 'team', 'a');
INSERT INTO vault_policies (account, vault, kind, policy, state, lock_id, created_ms, expires_ms)
    VALUES ('111122223333', 'photos', 'lock', '{"Version":"2012-10-17","Statement":[]}', 'Locked', 'LOCK1', 1700000000800, NULL);
INSERT INTO account_settings (account, retrieval_policy) VALUES ('111122223333', '{"Rules":[{"Strategy":"FreeTier","BytesPerHour":null}]}');
INSERT INTO capacity_units (id, account, start_ms, expires_ms) VALUES ('CAP1', '111122223333', 1700000000000, 1702592000000);
INSERT INTO retrievals (account, at_ms, bytes, tier) VALUES ('111122223333', 1700000000900, 5, 'Standard');
INSERT INTO completed_uploads (upload_id, account, vault, archive_id, archive_size, tree_hash, completed_ms)
    VALUES ('UPLOAD0', '111122223333', 'photos', 'ARCHIVE1', 5, X'2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824', 1700000000500);
