-- A person's roles are looked up by person id alone (their page, their count of
-- companies, people shared between companies, the graph). An index on the id alone
-- keeps each id once with the list of its rows (B-tree deduplication): about a fifth
-- of the (person_id, idno) index it replaces, whose every entry was distinct.
DROP INDEX company_roles_person_idx;
CREATE INDEX company_roles_person_idx ON company_roles (person_id) WHERE person_id IS NOT NULL;
