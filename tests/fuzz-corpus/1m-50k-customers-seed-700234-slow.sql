-- found by `olap fuzz --seed 700234 --questions 1`: slow
SELECT f.year AS g0, SUM(f.revenue - f.cost) AS a0, quantile_cont(f.revenue, 0.9) AS a1, COUNT(DISTINCT -f.customer_key) AS a2 FROM sales_fact f GROUP BY f.year
