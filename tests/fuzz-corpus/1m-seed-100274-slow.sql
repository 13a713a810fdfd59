-- Fixed (replayed by CI): found at 1M rows (olap generate --rows 1M
-- --partition-by year,quarter; seed 42), 2 threads: olap 33241.5 ms, --rewrite off as olap's (no rewrite), plain 21245.2 ms: over 1.25× the faster + 50 ms
-- found by `olap fuzz --seed 100274 --questions 1`: slow
-- The fix: a fact table under a cross product reads through one scan of all files, as the plain engine does (choose_from_plan, src/query/engine.rs); one scan per partition ran 47.7 s where one scan took 28.2 s.
SELECT COUNT(t.time_key) AS a0, COUNT(DISTINCT f.customer_key) FILTER (WHERE f.quantity > 2) AS a1 FROM sales_fact f, dim_time t, dim_geography g LEFT JOIN dim_payment y ON f.payment_key = y.payment_key AND y.payment_type <> 'Cash' WHERE f.time_key = t.time_key AND f.geo_key = g.geo_key AND f.customer_key IN (SELECT customer_key FROM dim_customer WHERE segment = 'Small Business') AND g.region = 'Europe'
