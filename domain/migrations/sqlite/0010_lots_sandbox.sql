-- Per-lot remaining points (ledger::lots): every credit entry is a lot; debits consume the
-- oldest lots first (FIFO), in the posting's transaction. Expiry reads only lots that still hold
-- points and are old enough, so its cost follows what is due, not the ledger's history.
-- Invariant (joygate ledger check): an account's balance == the sum of its lots' remaining.
CREATE TABLE ledger_lots (
    bit_reference TEXT    PRIMARY KEY REFERENCES ledger_entries (bit_reference),
    member_id     TEXT    NOT NULL REFERENCES members (id),
    earned_at     INTEGER NOT NULL,
    points        INTEGER NOT NULL CHECK (points > 0),
    remaining     INTEGER NOT NULL CHECK (remaining >= 0 AND remaining <= points)
);
CREATE INDEX ledger_lots_open ON ledger_lots (member_id, earned_at, bit_reference) WHERE remaining > 0;
CREATE INDEX ledger_lots_due ON ledger_lots (earned_at) WHERE remaining > 0;

-- The lots of the entries written before this table: a credit's remaining is what FIFO leaves
-- of it after all of the member's debits, clamp(credits up to it − debits, 0, its points).
INSERT INTO ledger_lots (bit_reference, member_id, earned_at, points, remaining)
SELECT bit_reference, member_id, created_at, points, MAX(0, MIN(points, cum - debits))
FROM (
    SELECT e.bit_reference, e.member_id, e.created_at, e.points,
           SUM(e.points) OVER (PARTITION BY e.member_id ORDER BY e.created_at, e.bit_reference ROWS UNBOUNDED PRECEDING) AS cum,
           COALESCE((SELECT -SUM(d.points) FROM ledger_entries d WHERE d.member_id = e.member_id AND d.points < 0), 0) AS debits
    FROM ledger_entries e
    WHERE e.points > 0
) credits;

-- The sandbox's SMS inbox (sandbox mode only): the codes the log sender "sent", readable at
-- /sandbox/sms from every instance. Kept for an hour.
CREATE TABLE sandbox_sms (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    phone      TEXT    NOT NULL,
    text       TEXT    NOT NULL,
    sent_at    INTEGER NOT NULL
);
CREATE INDEX sandbox_sms_phone ON sandbox_sms (phone, id);
