-- Fixed (replayed by CI): found at 1M rows (olap generate --rows 1M
-- --partition-by year,quarter; seed 42), 2 threads: olap 27358.1 ms, --rewrite off as olap's (no rewrite), plain 4343.6 ms: over 1.25x the faster + 50 ms
-- found by `olap fuzz --seed 300507 --questions 1`: slow
-- The fix: a plan with a cross product, nested-loop or dependent join reads the fact table through one scan of all files (choose_from_plan, src/query/engine.rs); now one scan of all files, as the plain engine reads it.
WITH q AS (SELECT MIN(p.product_key) AS a0, quantile_cont(f.revenue, 0.9) AS a1 FROM sales_fact f, dim_product p, dim_customer c LEFT JOIN dim_time t ON t.time_key = f.time_key WHERE f.product_key = p.product_key AND f.customer_key = c.customer_key AND c.segment = 'Consumer' AND f.year >= 2022) SELECT * FROM q
