-- Generates pg_proc/builtins.rs: the rows of pg_proc for the functions
-- sargdb implements that PostgreSQL 15 also has, with PostgreSQL's own
-- metadata (oid, argument and result types, volatility, strictness, the
-- argument text psql prints, the description \df+ shows). Run against a
-- PostgreSQL 15 server:
--   psql -X -At -h HOST -p PORT -U postgres -f sql/src/system/pg_proc/builtins.sql \
--     > sql/src/system/pg_proc/builtins.rs
-- Every signature below must be one sargdb resolves (the unit test in
-- pg_proc/mod.rs checks each row against the function resolver and the
-- aggregate typing); functions sargdb has and PostgreSQL does not are
-- listed by hand in pg_proc/mod.rs.
\pset footer off
WITH sigs(sig) AS (VALUES
 -- strings
 ('length(text)'), ('length(bytea)'), ('char_length(text)'), ('character_length(text)'),
 ('octet_length(text)'), ('octet_length(bytea)'), ('octet_length(character)'),
 ('bit_length(text)'), ('bit_length(bytea)'),
 ('lower(text)'), ('upper(text)'), ('initcap(text)'), ('reverse(text)'), ('quote_ident(text)'),
 ('md5(text)'), ('md5(bytea)'), ('quote_literal(text)'), ('quote_literal(anyelement)'),
 ('quote_nullable(text)'), ('quote_nullable(anyelement)'),
 ('substr(text,int4)'), ('substr(text,int4,int4)'), ('substr(bytea,int4)'), ('substr(bytea,int4,int4)'),
 ('substring(text,int4)'), ('substring(text,int4,int4)'), ('substring(bytea,int4)'), ('substring(bytea,int4,int4)'),
 ('overlay(text,text,int4)'), ('overlay(text,text,int4,int4)'),
 ('position(text,text)'), ('strpos(text,text)'), ('replace(text,text,text)'), ('translate(text,text,text)'),
 ('btrim(text)'), ('btrim(text,text)'), ('ltrim(text)'), ('ltrim(text,text)'), ('rtrim(text)'), ('rtrim(text,text)'),
 ('lpad(text,int4)'), ('lpad(text,int4,text)'), ('rpad(text,int4)'), ('rpad(text,int4,text)'),
 ('left(text,int4)'), ('right(text,int4)'), ('repeat(text,int4)'), ('split_part(text,text,int4)'),
 ('regexp_like(text,text)'), ('regexp_like(text,text,text)'),
 ('regexp_replace(text,text,text)'), ('regexp_replace(text,text,text,text)'),
 ('regexp_match(text,text)'), ('regexp_match(text,text,text)'),
 ('starts_with(text,text)'), ('concat("any")'), ('concat_ws(text,"any")'), ('format(text)'), ('format(text,"any")'),
 ('chr(int4)'), ('ascii(text)'), ('to_hex(int4)'), ('to_hex(int8)'),
 -- math
 ('abs(int2)'), ('abs(int4)'), ('abs(int8)'), ('abs(float4)'), ('abs(float8)'), ('abs(numeric)'),
 ('ceil(float8)'), ('ceil(numeric)'), ('ceiling(float8)'), ('ceiling(numeric)'),
 ('floor(float8)'), ('floor(numeric)'), ('sign(float8)'), ('sign(numeric)'),
 ('round(float8)'), ('round(numeric)'), ('round(numeric,int4)'),
 ('trunc(float8)'), ('trunc(numeric)'), ('trunc(numeric,int4)'),
 ('sqrt(float8)'), ('sqrt(numeric)'), ('exp(float8)'), ('exp(numeric)'), ('ln(float8)'), ('ln(numeric)'),
 ('log10(float8)'), ('log10(numeric)'), ('log(float8)'), ('log(numeric)'), ('log(numeric,numeric)'),
 ('cbrt(float8)'), ('degrees(float8)'), ('radians(float8)'), ('sin(float8)'), ('cos(float8)'), ('tan(float8)'),
 ('asin(float8)'), ('acos(float8)'), ('atan(float8)'), ('cot(float8)'), ('atan2(float8,float8)'),
 ('power(float8,float8)'), ('power(numeric,numeric)'), ('pow(float8,float8)'), ('pow(numeric,numeric)'),
 ('mod(int2,int2)'), ('mod(int4,int4)'), ('mod(int8,int8)'), ('mod(numeric,numeric)'),
 ('gcd(int4,int4)'), ('gcd(int8,int8)'), ('gcd(numeric,numeric)'),
 ('lcm(int4,int4)'), ('lcm(int8,int8)'), ('lcm(numeric,numeric)'),
 ('div(numeric,numeric)'), ('factorial(int8)'), ('scale(numeric)'),
 ('width_bucket(float8,float8,float8,int4)'), ('width_bucket(numeric,numeric,numeric,int4)'),
 ('pi()'), ('random()'), ('gen_random_uuid()'),
 -- date/time
 ('now()'), ('transaction_timestamp()'), ('statement_timestamp()'), ('clock_timestamp()'), ('timeofday()'),
 ('timezone(text,timestamptz)'), ('timezone(text,timestamp)'),
 ('date_trunc(text,timestamptz)'), ('date_trunc(text,timestamp)'), ('date_trunc(text,interval)'),
 ('date_part(text,timestamptz)'), ('date_part(text,timestamp)'), ('date_part(text,interval)'),
 ('date_part(text,date)'), ('date_part(text,time)'),
 ('extract(text,timestamptz)'), ('extract(text,timestamp)'), ('extract(text,interval)'),
 ('extract(text,date)'), ('extract(text,time)'),
 ('age(timestamptz)'), ('age(timestamp)'), ('age(timestamptz,timestamptz)'), ('age(timestamp,timestamp)'),
 ('make_date(int4,int4,int4)'), ('make_time(int4,int4,float8)'),
 ('make_timestamp(int4,int4,int4,int4,int4,float8)'), ('make_timestamptz(int4,int4,int4,int4,int4,float8)'),
 ('make_interval(int4,int4,int4,int4,int4,int4,float8)'),
 ('to_char(timestamp,text)'), ('to_char(timestamptz,text)'), ('to_char(interval,text)'),
 ('to_char(int4,text)'), ('to_char(int8,text)'), ('to_char(float8,text)'), ('to_char(numeric,text)'),
 ('to_date(text,text)'), ('to_timestamp(float8)'), ('to_timestamp(text,text)'), ('to_number(text,text)'),
 ('justify_days(interval)'), ('justify_hours(interval)'), ('justify_interval(interval)'),
 ('isfinite(date)'), ('isfinite(timestamp)'), ('isfinite(timestamptz)'), ('isfinite(interval)'),
 -- catalog and statistics (the pg_stat_*reset* functions return text in sargdb, void in
 -- PostgreSQL: they are listed by hand)

 ('pg_relation_filenode(regclass)'), ('brin_summarize_new_values(regclass)'),
 ('pg_get_userbyid(oid)'), ('pg_table_is_visible(oid)'), ('pg_type_is_visible(oid)'),
 ('pg_function_is_visible(oid)'),
 ('pg_get_indexdef(oid)'), ('pg_get_indexdef(oid,int4,bool)'),
 ('pg_get_constraintdef(oid)'), ('pg_get_constraintdef(oid,bool)'),
 ('pg_get_expr(pg_node_tree,oid)'), ('pg_get_expr(pg_node_tree,oid,bool)'),
 ('pg_get_viewdef(oid)'), ('pg_get_viewdef(oid,bool)'),
 ('pg_get_statisticsobjdef_columns(oid)'), ('pg_relation_is_publishable(regclass)'),
 ('pg_get_function_result(oid)'), ('pg_get_function_arguments(oid)'),
 ('pg_get_function_identity_arguments(oid)'), ('pg_get_function_sqlbody(oid)'),
 ('format_type(oid,int4)'), ('obj_description(oid)'), ('obj_description(oid,name)'),
 ('shobj_description(oid,name)'), ('col_description(oid,int4)'),
 ('pg_relation_size(regclass)'), ('pg_relation_size(regclass,text)'), ('pg_table_size(regclass)'),
 ('pg_indexes_size(regclass)'), ('pg_total_relation_size(regclass)'),
 ('pg_database_size(name)'), ('pg_database_size(oid)'), ('pg_size_pretty(int8)'), ('pg_size_pretty(numeric)'),
 ('pg_encoding_to_char(int4)'),
 ('array_to_string(anyarray,text)'), ('array_to_string(anyarray,text,text)'),
 ('array_upper(anyarray,int4)'), ('array_lower(anyarray,int4)'), ('array_length(anyarray,int4)'),
 ('array_position(anycompatiblearray,anycompatible)'), ('cardinality(anyarray)'),
 ('current_schemas(bool)'), ('current_schema()'), ('to_regclass(text)'),
 ('version()'), ('current_database()'), ('current_user()'), ('session_user()'), ('pg_backend_pid()'),
 ('pg_typeof("any")'),
 ('nextval(regclass)'), ('currval(regclass)'), ('setval(regclass,int8)'), ('setval(regclass,int8,bool)'),
 -- set-returning
 ('unnest(anyarray)'),
 ('generate_series(int4,int4)'), ('generate_series(int4,int4,int4)'),
 ('generate_series(int8,int8)'), ('generate_series(int8,int8,int8)'),
 ('generate_series(numeric,numeric)'), ('generate_series(numeric,numeric,numeric)'),
 ('generate_series(timestamp,timestamp,interval)'), ('generate_series(timestamptz,timestamptz,interval)'),
 -- aggregates
 ('count("any")'), ('count()'),
 ('sum(int2)'), ('sum(int4)'), ('sum(int8)'), ('sum(float4)'), ('sum(float8)'), ('sum(numeric)'), ('sum(interval)'),
 ('avg(int2)'), ('avg(int4)'), ('avg(int8)'), ('avg(float4)'), ('avg(float8)'), ('avg(numeric)'), ('avg(interval)'),
 ('min(int2)'), ('min(int4)'), ('min(int8)'), ('min(float4)'), ('min(float8)'), ('min(numeric)'), ('min(text)'),
 ('min(bpchar)'), ('min(date)'), ('min(time)'), ('min(timestamp)'), ('min(timestamptz)'), ('min(interval)'), ('min(oid)'),
 ('max(int2)'), ('max(int4)'), ('max(int8)'), ('max(float4)'), ('max(float8)'), ('max(numeric)'), ('max(text)'),
 ('max(bpchar)'), ('max(date)'), ('max(time)'), ('max(timestamp)'), ('max(timestamptz)'), ('max(interval)'), ('max(oid)'),
 ('bool_and(bool)'), ('bool_or(bool)'), ('every(bool)'),
 ('string_agg(text,text)'), ('string_agg(bytea,bytea)'), ('array_agg(anynonarray)')
), privs AS (
  SELECT p.oid::regprocedure::text AS sig FROM pg_proc p
  WHERE p.proname IN ('has_table_privilege','has_schema_privilege','has_database_privilege',
    'has_column_privilege','has_sequence_privilege','has_function_privilege',
    'has_any_column_privilege','has_tablespace_privilege','has_type_privilege','pg_has_role')
), allsigs AS (
  SELECT sig::regprocedure::oid AS oid FROM sigs
  UNION SELECT sig::regprocedure::oid FROM privs
)
SELECT '// @generated by builtins.sql from PostgreSQL ' || current_setting('server_version') || '; do not edit.'
UNION ALL
SELECT 'use super::Builtin;'
UNION ALL
SELECT ''
UNION ALL
SELECT 'pub(super) const BUILTINS: &[Builtin] = &['
UNION ALL
SELECT * FROM (
SELECT format('    Builtin { oid: %s, name: %s, kind: b''%s'', volatile: b''%s'', strict: %s, retset: %s, ret: %s, args: &[%s], variadic: %s, nargdefaults: %s, argnames: &[%s], src: %s, lang: %s, result: %s, arguments: %s, identity: %s, description: %s },',
  p.oid, to_json(p.proname::text), p.prokind, p.provolatile, p.proisstrict::text, p.proretset::text, p.prorettype,
  array_to_string(p.proargtypes::oid[], ', '), p.provariadic, p.pronargdefaults,
  coalesce((SELECT string_agg(to_json(n)::text, ', ') FROM unnest(p.proargnames) n), ''),
  to_json(p.prosrc), p.prolang,
  to_json(pg_get_function_result(p.oid)), to_json(pg_get_function_arguments(p.oid)),
  to_json(pg_get_function_identity_arguments(p.oid)),
  to_json(coalesce(obj_description(p.oid, 'pg_proc'), '')))
FROM allsigs a JOIN pg_proc p ON p.oid = a.oid
ORDER BY p.proname, p.oid) x
UNION ALL
SELECT '];';
