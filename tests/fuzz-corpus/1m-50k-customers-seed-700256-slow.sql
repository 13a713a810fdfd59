-- found by `olap fuzz --seed 700256 --questions 1`: slow
SELECT *, dense_rank() OVER (PARTITION BY g0 ORDER BY a0) AS w0 FROM (SELECT f.year AS g0, f.quarter AS g1, f.quantity > 3 AS g2, COUNT(DISTINCT f.date) AS a0 FROM sales_fact f WHERE f.revenue > 250 GROUP BY CUBE (f.year, f.quarter, f.quantity > 3)) AS s
