-- How an accepted object version's mask was made (prompt, job, backend, score, raw polygons),
-- kept with its create write: objects of images opened outside rooms have no other record, and
-- a room object keeps only its current version. JSON as TEXT; NULL for other ops.
ALTER TABLE writes ADD COLUMN provenance TEXT;
