//! The star schema: every table's Arrow schema, defined once and used by the
//! generator, the writers, the DuckDB views, `validate` and the docs.

use std::ops::Range;
use std::sync::{Arc, LazyLock};

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use chrono::NaiveDate;

/// The regions of `dim_geography`, in the order the generator lists them.
pub const REGIONS: [&str; 5] = [
    "North America",
    "Europe",
    "Asia Pacific",
    "Latin America",
    "Middle East & Africa",
];

/// Cities in `dim_geography`.
pub const DEFAULT_CITIES: u32 = 5_000;

/// What to generate: the identity of a data set's content (with the storage
/// settings, in the manifest). Validated by the command line before use.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GenSpec {
    pub seed: u64,
    pub rows: u64,
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub customers: u32,
    pub products: u32,
    pub cities: u32,
}

impl GenSpec {
    pub const DEFAULT_SEED: u64 = 42;
    pub const DEFAULT_ROWS: u64 = 10_000_000;
    pub const DEFAULT_CUSTOMERS: u32 = 1_000_000;
    pub const DEFAULT_PRODUCTS: u32 = 10_000;
    pub const DEFAULT_START: NaiveDate = NaiveDate::from_ymd_opt(2021, 1, 1).expect("valid date");
    pub const DEFAULT_END: NaiveDate = NaiveDate::from_ymd_opt(2023, 12, 31).expect("valid date");

    /// The defaults with `rows` fact rows.
    pub fn with_rows(rows: u64) -> GenSpec {
        GenSpec {
            seed: Self::DEFAULT_SEED,
            rows,
            start: Self::DEFAULT_START,
            end: Self::DEFAULT_END,
            customers: Self::DEFAULT_CUSTOMERS,
            products: Self::DEFAULT_PRODUCTS,
            cities: DEFAULT_CITIES,
        }
    }
}

/// The seam between generating and storing: anything that yields any row
/// range of any table as an Arrow batch. The generator implements it; the
/// writers consume it (and their tests feed it synthetic batches).
pub trait BatchSource: Sync {
    /// Rows of `table` in the whole data set.
    fn rows(&self, table: Table) -> u64;
    /// Rows `range` of `table`.
    fn batch(&self, table: Table, range: Range<u64>) -> RecordBatch;
    /// (year, month) of each day of the span, in order, and the first fact
    /// row of each day plus the total at the end (one more entry than days).
    /// Fact rows are sorted by date, so partitions are contiguous row ranges.
    fn fact_days(&self) -> (Vec<(i32, u32)>, Vec<u64>);
}

/// Money is exact: DECIMAL(18,2) (Parquet INT64 + DECIMAL logical type), so sums
/// are identical on every run, engine and thread count.
pub const MONEY: DataType = DataType::Decimal128(MONEY_PRECISION, MONEY_SCALE);
pub const MONEY_PRECISION: u8 = 18;
pub const MONEY_SCALE: i8 = 2;
/// Cents as a [`MONEY`] column.
pub fn money_array(cents: Vec<i128>) -> arrow::array::ArrayRef {
    Arc::new(
        arrow::array::Decimal128Array::from(cents)
            .with_precision_and_scale(MONEY_PRECISION, MONEY_SCALE)
            .expect("valid decimal"),
    )
}

/// Payment fees are percentages with two decimals.
pub const PERCENT: DataType = DataType::Decimal128(5, 2);

/// The tables of the data set, in the order they are generated and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    DimTime,
    DimGeography,
    DimProduct,
    DimCustomer,
    DimPayment,
    SalesFact,
}

impl Table {
    pub const ALL: [Table; 6] = [
        Table::DimTime,
        Table::DimGeography,
        Table::DimProduct,
        Table::DimCustomer,
        Table::DimPayment,
        Table::SalesFact,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Table::DimTime => "dim_time",
            Table::DimGeography => "dim_geography",
            Table::DimProduct => "dim_product",
            Table::DimCustomer => "dim_customer",
            Table::DimPayment => "dim_payment",
            Table::SalesFact => "sales_fact",
        }
    }

    pub fn from_name(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == name)
    }

    pub fn is_fact(self) -> bool {
        self == Table::SalesFact
    }

    /// The columns a query over the engine's view of the table can name:
    /// the stored ones, and for the fact table its partition columns (year,
    /// quarter, month), which the view adds whatever the layout.
    pub fn view_columns(self) -> Vec<String> {
        let mut cols: Vec<String> = self
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        if self.is_fact() {
            cols.extend(PartitionKey::ALL.iter().map(|k| k.name().to_string()));
        }
        cols
    }

    /// The schema of the table as stored in files. For `sales_fact` the Hive
    /// partition columns (year, quarter, month) are not in the files: they live
    /// in directory names and the query layer adds them back.
    pub fn schema(self) -> SchemaRef {
        match self {
            Table::DimTime => DIM_TIME.clone(),
            Table::DimGeography => DIM_GEOGRAPHY.clone(),
            Table::DimProduct => DIM_PRODUCT.clone(),
            Table::DimCustomer => DIM_CUSTOMER.clone(),
            Table::DimPayment => DIM_PAYMENT.clone(),
            Table::SalesFact => SALES_FACT.clone(),
        }
    }

    /// One line on what a row is, for docs and `--help`.
    pub fn description(self) -> &'static str {
        match self {
            Table::DimTime => {
                "one row per calendar day of the span, with a fixed US retail holiday calendar"
            }
            Table::DimGeography => "cities in a strict region > country > state > city hierarchy",
            Table::DimProduct => {
                "products as SCD Type 2 versions: price and brand changes tile time"
            }
            Table::DimCustomer => {
                "customers with segment, channel, lifetime-value tier and home city"
            }
            Table::DimPayment => "payment methods with provider and fee",
            Table::SalesFact => "one row per transaction line item, sorted by date",
        }
    }
}

fn field(name: &str, dt: DataType) -> Field {
    Field::new(name, dt, false)
}

pub static DIM_TIME: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        field("time_key", DataType::Int32),
        field("date", DataType::Date32),
        field("year", DataType::Int32),
        field("quarter", DataType::Int32),
        field("month", DataType::Int32),
        field("month_name", DataType::Utf8),
        field("day", DataType::Int32),
        field("day_of_week", DataType::Int32),
        field("day_name", DataType::Utf8),
        field("is_weekend", DataType::Boolean),
        field("is_holiday", DataType::Boolean),
        Field::new("holiday_name", DataType::Utf8, true),
    ]))
});

pub static DIM_GEOGRAPHY: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        field("geo_key", DataType::Int32),
        field("region", DataType::Utf8),
        field("country", DataType::Utf8),
        field("country_code", DataType::Utf8),
        field("state", DataType::Utf8),
        field("city", DataType::Utf8),
        field("lat", DataType::Float64),
        field("lon", DataType::Float64),
    ]))
});

pub static DIM_PRODUCT: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        field("product_key", DataType::Int32),
        field("product_id", DataType::Utf8),
        field("name", DataType::Utf8),
        field("category", DataType::Utf8),
        field("subcategory", DataType::Utf8),
        field("brand", DataType::Utf8),
        field("list_price", MONEY),
        field("unit_cost", MONEY),
        field("effective_date", DataType::Date32),
        field("expiration_date", DataType::Date32),
        field("is_current", DataType::Boolean),
    ]))
});

pub static DIM_CUSTOMER: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        field("customer_key", DataType::Int32),
        field("customer_id", DataType::Utf8),
        field("segment", DataType::Utf8),
        field("channel", DataType::Utf8),
        field("ltv_tier", DataType::Utf8),
        field("home_geo_key", DataType::Int32),
    ]))
});

pub static DIM_PAYMENT: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        field("payment_key", DataType::Int32),
        field("payment_type", DataType::Utf8),
        field("provider", DataType::Utf8),
        field("fee_percent", PERCENT),
    ]))
});

pub static SALES_FACT: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        field("transaction_id", DataType::Int64),
        field("line_item_id", DataType::Int16),
        field("date", DataType::Date32),
        field("time_key", DataType::Int32),
        field("geo_key", DataType::Int32),
        field("product_key", DataType::Int32),
        field("customer_key", DataType::Int32),
        field("payment_key", DataType::Int32),
        field("quantity", DataType::Int16),
        field("unit_price", MONEY),
        field("revenue", MONEY),
        field("cost", MONEY),
        field("discount_amount", MONEY),
        field("profit", MONEY),
    ]))
});

/// Columns a fact table can be Hive-partitioned by, coarsest first.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum PartitionKey {
    Year,
    Quarter,
    Month,
}

impl PartitionKey {
    pub const ALL: [PartitionKey; 3] = [
        PartitionKey::Year,
        PartitionKey::Quarter,
        PartitionKey::Month,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PartitionKey::Year => "year",
            PartitionKey::Quarter => "quarter",
            PartitionKey::Month => "month",
        }
    }

    pub fn from_name(s: &str) -> Option<PartitionKey> {
        PartitionKey::ALL.into_iter().find(|k| k.name() == s)
    }

    /// The key's value for a (year, month) pair.
    pub fn value(self, year: i32, month: u32) -> i32 {
        match self {
            PartitionKey::Year => year,
            PartitionKey::Quarter => ((month - 1) / 3 + 1) as i32,
            PartitionKey::Month => month as i32,
        }
    }
}

/// The SQL type DuckDB should use for an Arrow type of our schemas: CSV
/// columns are declared with these, never sniffed.
pub fn sql_type(dt: &DataType) -> String {
    match dt {
        DataType::Boolean => "BOOLEAN".into(),
        DataType::Int16 => "SMALLINT".into(),
        DataType::Int32 => "INTEGER".into(),
        DataType::Int64 => "BIGINT".into(),
        DataType::Float64 => "DOUBLE".into(),
        DataType::Date32 => "DATE".into(),
        DataType::Decimal128(p, s) => format!("DECIMAL({p},{s})"),
        DataType::Utf8 => "VARCHAR".into(),
        other => unreachable!("no SQL type for {other}: not used by our schemas"),
    }
}
