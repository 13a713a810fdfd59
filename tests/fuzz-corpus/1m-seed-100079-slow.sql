-- Fixed (replayed by CI): found at 1M rows (olap generate --rows 1M
-- --partition-by year,quarter; seed 42), 2 threads: olap 102.8 ms, --rewrite off 50.6 ms, plain 32.6 ms: over 1.25× the faster + 50 ms
-- found by `olap fuzz --seed 100079 --questions 1`: slow
-- The fix: a question reading fewer than 2M fact rows is not rewritten by default (REWRITE_MIN_FACT_ROWS, src/query/engine.rs): deciding a rewrite cost more than it could save.
-- ordered
SELECT f.line_item_id AS g0, t.month_name AS g1, p.subcategory AS g2, COUNT(DISTINCT f.transaction_id) AS a0, MAX(f.transaction_id) - MIN(f.transaction_id) AS a1 FROM sales_fact f INNER JOIN dim_product p ON f.product_key = p.product_key AND p.category = 'Electronics' LEFT JOIN dim_time t ON f.time_key = t.time_key AND t.is_weekend JOIN dim_payment y ON y.payment_key = f.payment_key GROUP BY f.line_item_id, t.month_name, p.subcategory ORDER BY g0 NULLS FIRST, g1 DESC NULLS LAST, g2 NULLS FIRST, a0 DESC NULLS LAST, a1 NULLS FIRST LIMIT 100
