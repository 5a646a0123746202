"""The profile and event archive: Parquet files that batch segment recompute, preview, search and
data-health reports query with SQL (DuckDB; the same files are a Glue table for Athena)."""
