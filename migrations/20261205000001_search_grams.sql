-- Substring search that works for Chinese (issue 19): pg_trgm finds no trigram in a 1- or
-- 2-character query (a surname like 王, a name like 王伟, a city like 杭州), so such searches
-- scanned the table. One GIN index over every 1-, 2- and 3-character gram of the words of name
-- and company serves every query instead, and replaces the two trigram indexes (a claim, a
-- non-HOT update, writes one search index entry set instead of two).
--
-- Words: lower-cased, split at whitespace and ASCII punctuation, the same rule for stored text
-- and queries. A query word of up to 3 characters must be one of the lead's grams; a longer one
-- must have all its 3-grams among them. Any substring of a name or company passes this test, so
-- the index finds every match; the ILIKE beside it drops the rest.

-- PL/pgSQL, not SQL: an SQL function that cannot be inlined is planned at every call (3.3 ms a
-- row measured, where this takes 10 µs); a claim (a non-HOT update) computes it once.
CREATE FUNCTION search_words(t text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
    SELECT regexp_split_to_array(lower(t), '[[:space:][:punct:]]+')
$$;

-- Every 1-, 2- and 3-character gram of the words of a lead's name and company (GIN drops the
-- repeats).
CREATE FUNCTION lead_search_grams(name text, company text) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    w text;
    len int;
    grams text[] := '{}';
BEGIN
    FOREACH w IN ARRAY search_words(coalesce(name, '') || ' ' || coalesce(company, '')) LOOP
        len := length(w);
        FOR i IN 1..len LOOP
            grams := grams || substr(w, i, 1);
            IF i < len THEN grams := grams || substr(w, i, 2); END IF;
            IF i + 1 < len THEN grams := grams || substr(w, i, 3); END IF;
        END LOOP;
    END LOOP;
    RETURN grams;
END
$$;

-- The grams a lead must have to contain `q`: each word of up to 3 characters whole, the 3-grams
-- of longer ones.
CREATE FUNCTION search_query_grams(q text) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    w text;
    grams text[] := '{}';
BEGIN
    FOREACH w IN ARRAY search_words(q) LOOP
        IF length(w) BETWEEN 1 AND 3 THEN
            grams := grams || w;
        END IF;
        FOR i IN 1..length(w) - 2 LOOP
            IF length(w) > 3 THEN grams := grams || substr(w, i, 3); END IF;
        END LOOP;
    END LOOP;
    RETURN grams;
END
$$;

CREATE INDEX leads_search_grams_idx ON leads USING gin (lead_search_grams(name, company));
DROP INDEX leads_name_trgm_idx;
DROP INDEX leads_company_trgm_idx;
