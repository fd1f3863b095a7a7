-- Extensions the domain relies on: pgvector for memories, pg_trgm and unaccent for
-- accent-insensitive, fuzzy matching of names (hospitals, specialties, doctors).
CREATE EXTENSION IF NOT EXISTS vector;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS unaccent;
