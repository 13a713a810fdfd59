-- found by `olap fuzz --seed 700351 --questions 1`: slow
SELECT f.year AS g0, SUM(f.revenue - f.cost) AS a0, quantile_cont(f.revenue, 0.9) AS a1, COUNT(y.payment_key) AS a2 FROM sales_fact f, dim_payment y LEFT JOIN dim_time t ON f.time_key = t.time_key WHERE f.payment_key = y.payment_key AND t.month IN (6, 7, 8) AND f.quantity > 3 GROUP BY f.year
