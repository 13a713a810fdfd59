-- Fixed (replayed by CI): found at 1M rows (olap generate --rows 1M
-- --partition-by year,quarter; seed 42), 2 threads: olap 75.6 ms, --rewrite off 20.3 ms, plain 10.2 ms: over 1.25× the faster + 50 ms
-- found by `olap fuzz --seed 100057 --questions 1`: slow
-- The fix: a question reading fewer than 2M fact rows is not rewritten by default (REWRITE_MIN_FACT_ROWS, src/query/engine.rs): deciding a rewrite cost more than it could save.
SELECT g.country AS g0, p.subcategory AS g1, p.brand AS g2, SUM(f.profit) / NULLIF(SUM(f.revenue), 0) AS a0, COUNT(DISTINCT g.geo_key) AS a1, COUNT(DISTINCT -f.customer_key) AS a2 FROM sales_fact f, dim_payment y, dim_geography g, dim_product p WHERE f.payment_key = y.payment_key AND f.geo_key = g.geo_key AND f.product_key = p.product_key AND f.year = 1990 AND f.revenue > 250 GROUP BY g.country, p.subcategory, p.brand HAVING AVG(f.revenue) < 500
