-- Found by hand (the rewrite-safety issue): 111.4 s with olap's defaults at
-- 1M rows, 6.97-8.39 s with --rewrite off, 3.06-3.74 s on plain views. A
-- table listed after a comma, then a LEFT JOIN whose condition names the
-- fact listed before the comma.
SELECT g.country AS g0, p.subcategory AS g1, COUNT(DISTINCT f.customer_key) AS a0,
       SUM(f.revenue - f.cost) AS a1
FROM sales_fact f, dim_geography g
LEFT JOIN dim_product p ON f.product_key = p.product_key AND p.is_current
WHERE f.geo_key = g.geo_key AND g.lat > 0
GROUP BY g.country, p.subcategory HAVING SUM(f.revenue) > 1000
