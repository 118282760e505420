-- Reconciliation (GET/POST /api/v1/reconcile): near names by trigram similarity.
--
-- Company candidates come from three places: the IDNO (primary key), the exact
-- folded name (company_search.name_norm, indexed by the relations migration) and
-- the nearest names by trigram distance over company_search.name_key (the name
-- lower-cased and unaccented, always written with the search projection). A GiST
-- index answers "the k nearest" (ORDER BY name_key <-> $1 LIMIT k) without
-- ranking every row. People likewise by their folded, word-sorted name_key.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE INDEX company_search_name_trgm_idx ON company_search USING gist (name_key gist_trgm_ops);
CREATE INDEX people_name_key_trgm_idx ON people USING gist (name_key gist_trgm_ops);
