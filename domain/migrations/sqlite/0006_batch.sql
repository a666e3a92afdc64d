-- Batch point files (ledger::batch): one row per file, from the API or the inbound folder. An
-- API upload is stored as PROCESSING with its file, so a restart part-way can finish it; once
-- DONE, the file is dropped and the counts and the result file (one CSV line per data row) are
-- final. The rows themselves are ledger entries, idempotent by (client_id, transaction_id).
CREATE TABLE ledger_batches (
    id         TEXT    PRIMARY KEY,
    client_id  TEXT    NOT NULL,
    file_name  TEXT,
    source     TEXT    NOT NULL CHECK (source IN ('API', 'INBOUND')),
    format     TEXT    NOT NULL CHECK (format IN ('CSV', 'JSONL')),
    status     TEXT    NOT NULL CHECK (status IN ('PROCESSING', 'DONE')),
    file       BLOB,
    total      INTEGER NOT NULL,
    succeeded  INTEGER NOT NULL,
    failed     INTEGER NOT NULL,
    replayed   INTEGER NOT NULL,
    result_csv TEXT,
    -- whether rows may take points away (REDEMPTION, negative ADJUSTMENT): the uploader's
    -- point:redeem scope
    allow_debits INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    CHECK (status = 'DONE' OR file IS NOT NULL),
    CHECK (status = 'PROCESSING' OR result_csv IS NOT NULL)
);
CREATE INDEX ledger_batches_client ON ledger_batches (client_id, created_at);
CREATE INDEX ledger_batches_processing ON ledger_batches (created_at) WHERE status = 'PROCESSING';
