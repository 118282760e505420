-- Reconciliation's near names, faster: the nearest names by trigram distance are looked
-- for among the names with the same first letter or digit as the query's (what
-- `names::name_key`/`person_key` and the stored keys agree on: ASCII after folding),
-- through a two-column GiST index (the initial by equality, via btree_gist, then the
-- trigram distance). Over 100,000 companies the whole-table nearest-name scan cost
-- 10 to 25 ms a query; within one initial it is a fraction of that. A name whose first
-- letter is misspelt, or that lacks the registry's first word, is then found only by
-- its exact folded name or its IDNO.
CREATE EXTENSION IF NOT EXISTS btree_gist;

DROP INDEX IF EXISTS company_search_name_trgm_idx;
DROP INDEX IF EXISTS people_name_key_trgm_idx;

CREATE INDEX company_search_initial_trgm_idx ON company_search USING gist (
    (left(regexp_replace(name_key, '[^a-z0-9]+', '', 'g'), 1)),
    name_key gist_trgm_ops
);
CREATE INDEX people_initial_trgm_idx ON people USING gist (
    (left(regexp_replace(name_key, '[^a-z0-9]+', '', 'g'), 1)),
    name_key gist_trgm_ops
);
