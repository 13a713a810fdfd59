-- found by `olap fuzz --seed 710382 --questions 1`: wrong
SELECT *, sum(a0) OVER (PARTITION BY g0) AS w0 FROM (SELECT f.month AS g0, f.geo_key AS g1, f.product_key AS g2, SUM(f.quantity) AS a0, COUNT(*) AS a1 FROM sales_fact f WHERE f.year >= 2022 GROUP BY f.month, f.geo_key, f.product_key HAVING COUNT(*) > 5) AS s
