-- Pronunciation lexicons (issue 17), one row per owner and name. `owner` is the API key id, or
-- '' for the one anonymous owner of a server without keys (a key id is never empty), so the
-- primary key needs no NULL handling. `body` is the validated lexicon in its JSON wire form; the
-- application checks it again on reading. `version` starts at 1 and grows by one on every PUT.
CREATE TABLE lexicons (
    owner      TEXT NOT NULL,
    name       TEXT NOT NULL,
    version    BIGINT NOT NULL CHECK (version >= 1),
    lang       TEXT,
    entries    BIGINT NOT NULL CHECK (entries >= 0),
    body       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (owner, name)
);
