-- Photos (issue 18, ADR 0011): the bytes live in the blob store (`storage::blobs`), outside
-- the database and outside the household documents; these tables say what is stored and
-- hold the chunks of unfinished uploads.

-- A photo the server holds, once whatever number of households or phones sent it: its
-- content address, and the household whose document referenced it when it was stored, so
-- that storage is counted per county. `sealed` = 1 when the photo and its thumbnail are
-- stored sealed by the vault (a bank card, an ID card).
CREATE TABLE photo (
    hash TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    bytes BIGINT NOT NULL,
    thumb_bytes BIGINT NOT NULL,
    county TEXT NOT NULL,
    village TEXT NOT NULL,
    household TEXT NOT NULL,
    stored_at BIGINT NOT NULL,
    sealed BIGINT NOT NULL
);
CREATE INDEX photo_county ON photo (county);

-- The chunks of an unfinished upload, one row each, keyed by device and photo so that two
-- phones sending the same photo never mix their bytes. Sealed, whatever the kind: a chunk of
-- a bank card is a piece of a bank card. Dropped when the upload completes or fails its
-- check, and after 7 days without a new chunk.
CREATE TABLE photo_chunk (
    device_id TEXT NOT NULL,
    hash TEXT NOT NULL,
    start_at BIGINT NOT NULL,
    size BIGINT NOT NULL,
    length BIGINT NOT NULL,
    bytes BYTEA NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (device_id, hash, start_at)
);
CREATE INDEX photo_chunk_received ON photo_chunk (received_at);
