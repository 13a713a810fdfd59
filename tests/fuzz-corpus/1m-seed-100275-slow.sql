-- Fixed (replayed by CI): found at 1M rows (olap generate --rows 1M
-- --partition-by year,quarter; seed 42), 2 threads: olap 73.4 ms, --rewrite off 32.4 ms, plain 15.4 ms: over 1.25× the faster + 50 ms
-- found by `olap fuzz --seed 100275 --questions 1`: slow
-- The fix: a question reading fewer than 2M fact rows is not rewritten by default (REWRITE_MIN_FACT_ROWS, src/query/engine.rs): deciding a rewrite cost more than it could save.
-- ordered
SELECT c.ltv_tier AS g0, c.segment AS g1, MAX(f.transaction_id) - MIN(f.transaction_id) AS a0 FROM sales_fact f INNER JOIN dim_customer c ON c.customer_key = f.customer_key AND c.home_geo_key < 50 WHERE c.segment = 'Consumer' GROUP BY c.ltv_tier, c.segment ORDER BY g0 NULLS FIRST, g1 DESC NULLS LAST, a0 NULLS FIRST LIMIT 5
