-- People and the roles they and companies hold in companies, derived by the
-- Transform from each company's founders and administrators (see
-- services/scraper/src/names.rs for how a name becomes a person id).

-- A person: every role held under one normalized full name.
CREATE TABLE people (
    id        text PRIMARY KEY,      -- names::person_id: 20 hex digits
    name      text NOT NULL,         -- the spelling last seen
    name_key  text NOT NULL,         -- names::person_key: folded, words sorted
    search    tsvector NOT NULL      -- to_tsvector('simple', name_key)
);
CREATE INDEX people_search_idx ON people USING gin (search);
CREATE INDEX people_name_key_idx ON people (name_key text_pattern_ops);

-- A role held in company `idno`, by a person (`person_id`) or a company
-- (`holder_idno` when the source gives one, else matched at read time by
-- `holder_key` = names::name_key against company_search.name_norm when
-- exactly one company has that name). One row per (company, role, holder):
-- a role that disappears keeps its row with current = false and `until` set;
-- one that comes back is current again with a new `since`.
CREATE TABLE company_roles (
    idno         text NOT NULL REFERENCES companies (idno) ON DELETE CASCADE,
    role         text NOT NULL CHECK (role IN ('founder', 'administrator')),
    holder_kind  text NOT NULL CHECK (holder_kind IN ('person', 'company')),
    -- person id for a person; the IDNO, else name_key, for a company
    holder_key   text NOT NULL,
    person_id    text REFERENCES people (id),
    holder_idno  text,
    holder_name  text NOT NULL,
    share        double precision,
    function     text,
    current      boolean NOT NULL DEFAULT true,
    since        timestamptz,
    until        timestamptz,
    PRIMARY KEY (idno, role, holder_kind, holder_key),
    CHECK ((holder_kind = 'person') = (person_id IS NOT NULL))
);
CREATE INDEX company_roles_person_idx ON company_roles (person_id, idno) WHERE person_id IS NOT NULL;
CREATE INDEX company_roles_holder_idno_idx ON company_roles (holder_idno) WHERE holder_idno IS NOT NULL;
CREATE INDEX company_roles_holder_key_idx ON company_roles (holder_key) WHERE holder_kind = 'company';

-- A company's name folded as names::name_key (written by the Transform with
-- the rest of the search projection), to link founders named without an IDNO.
ALTER TABLE company_search ADD COLUMN name_norm text;
CREATE INDEX company_search_name_norm_idx ON company_search (name_norm);

-- Every role with the company that holds it resolved (`holder_company`): the IDNO
-- the source gave, else the one company whose folded name equals `holder_key`
-- (none when no company, or more than one, has that name). Resolved when read,
-- so a founding company loaded after the company it founded is linked at once.
CREATE VIEW company_roles_linked AS
SELECT r.*,
       CASE WHEN r.holder_kind = 'company' THEN coalesce(
           r.holder_idno,
           (SELECT min(s.idno) FROM company_search s WHERE s.name_norm = r.holder_key HAVING count(*) = 1)
       ) END AS holder_company
FROM company_roles r;
