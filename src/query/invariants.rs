//! The data set's invariants (README "The data model", docs/architecture.md) as SQL: each query counts the rows
//! that break one rule, so `olap validate` can name every violation.

/// (name, SQL returning the number of violating rows).
pub const INVARIANTS: [(&str, &str); 22] = [
    (
        "fact keys unique (transaction_id, line_item_id)",
        "SELECT count(*) - count(DISTINCT (transaction_id, line_item_id)) FROM sales_fact",
    ),
    (
        "dimension keys unique",
        "SELECT (SELECT count(*) - count(DISTINCT time_key) FROM dim_time) + (SELECT count(*) - count(DISTINCT geo_key) FROM dim_geography) + (SELECT count(*) - count(DISTINCT product_key) FROM dim_product) + (SELECT count(*) - count(DISTINCT customer_key) FROM dim_customer) + (SELECT count(*) - count(DISTINCT payment_key) FROM dim_payment)",
    ),
    (
        "fact time_key resolves",
        "SELECT count(*) FROM sales_fact f ANTI JOIN dim_time t USING (time_key)",
    ),
    (
        "fact date matches dim_time",
        "SELECT count(*) FROM sales_fact f JOIN dim_time t USING (time_key) WHERE f.date <> t.date",
    ),
    (
        "fact geo_key resolves",
        "SELECT count(*) FROM sales_fact f ANTI JOIN dim_geography g USING (geo_key)",
    ),
    (
        "fact product_key resolves",
        "SELECT count(*) FROM sales_fact f ANTI JOIN dim_product p USING (product_key)",
    ),
    (
        "fact customer_key resolves",
        "SELECT count(*) FROM sales_fact f ANTI JOIN dim_customer c USING (customer_key)",
    ),
    (
        "fact payment_key resolves",
        "SELECT count(*) FROM sales_fact f ANTI JOIN dim_payment p USING (payment_key)",
    ),
    (
        "customer home city resolves",
        "SELECT count(*) FROM dim_customer c ANTI JOIN dim_geography g ON c.home_geo_key = g.geo_key",
    ),
    (
        "partition columns match date",
        "SELECT count(*) FROM sales_fact WHERE year <> year(date) OR quarter <> quarter(date) OR month <> month(date)",
    ),
    (
        "SCD2: sale uses the version valid on its date",
        "SELECT count(*) FROM sales_fact f JOIN dim_product p USING (product_key) WHERE f.date NOT BETWEEN p.effective_date AND p.expiration_date",
    ),
    (
        "SCD2: unit_price is the version's list price",
        "SELECT count(*) FROM sales_fact f JOIN dim_product p USING (product_key) WHERE f.unit_price <> p.list_price",
    ),
    (
        "SCD2: versions tile time without gaps or overlaps",
        "SELECT count(*) FROM (SELECT effective_date, lag(expiration_date) OVER (PARTITION BY product_id ORDER BY effective_date) AS prev FROM dim_product) WHERE prev IS NOT NULL AND prev + INTERVAL 1 DAY <> effective_date",
    ),
    (
        "SCD2: one current, open-ended version per product",
        "SELECT count(*) FROM (SELECT product_id FROM dim_product GROUP BY product_id HAVING count(*) FILTER (is_current) <> 1 OR max(expiration_date) <> DATE '9999-12-31' OR bool_or(is_current AND expiration_date <> DATE '9999-12-31'))",
    ),
    (
        "revenue = quantity x unit_price - discount",
        "SELECT count(*) FROM sales_fact WHERE revenue <> quantity * unit_price - discount_amount",
    ),
    (
        "profit = revenue - cost",
        "SELECT count(*) FROM sales_fact WHERE profit <> revenue - cost",
    ),
    (
        "cost = quantity x unit_cost",
        "SELECT count(*) FROM sales_fact f JOIN dim_product p USING (product_key) WHERE f.cost <> f.quantity * p.unit_cost",
    ),
    (
        "money is non-negative where it must be",
        "SELECT count(*) FROM sales_fact WHERE quantity <= 0 OR unit_price <= 0 OR cost < 0 OR discount_amount < 0 OR revenue < 0",
    ),
    (
        "line items of a transaction share date, customer, city, payment",
        "SELECT count(*) FROM (SELECT transaction_id FROM sales_fact GROUP BY transaction_id HAVING count(DISTINCT (date, customer_key, geo_key, payment_key)) > 1 OR max(line_item_id) <> count(*))",
    ),
    (
        "sales happen in the customer's home city",
        "SELECT count(*) FROM sales_fact f JOIN dim_customer c USING (customer_key) WHERE f.geo_key <> c.home_geo_key",
    ),
    (
        "geography hierarchy is strict",
        "SELECT count(*) FROM (SELECT city FROM dim_geography GROUP BY city HAVING count(DISTINCT (state, country, region)) > 1 UNION ALL SELECT state FROM dim_geography GROUP BY state HAVING count(DISTINCT (country, region)) > 1)",
    ),
    (
        "dates fall inside the span",
        "SELECT count(*) FROM sales_fact WHERE date < (SELECT min(date) FROM dim_time) OR date > (SELECT max(date) FROM dim_time)",
    ),
];
