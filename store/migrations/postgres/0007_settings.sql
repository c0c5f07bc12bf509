-- Facts about the deployment that every replica must agree on and that outlive a restart,
-- e.g. that CDF's vision API has been found retired. One row per key; value is opaque text.
CREATE TABLE settings (
  key        TEXT PRIMARY KEY,
  value      TEXT NOT NULL,
  updated_at BIGINT NOT NULL -- Unix microseconds; SQLite's INTEGER is 64-bit, PostgreSQL's is not
);
