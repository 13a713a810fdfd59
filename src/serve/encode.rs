//! Arrow results as PostgreSQL rows: the type of each column (its OID and,
//! for NUMERIC, precision and scale) and each value in text or binary
//! format, through pgwire's encoders (`ToSql`/`ToSqlText`), never written
//! by hand. The type map follows arrow-pg's (datafusion-postgres).

use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type,
    Int64Type, IntervalMonthDayNanoType, IntervalUnit, Schema, Time64MicrosecondType, TimeUnit,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType, UInt8Type, UInt16Type, UInt32Type,
};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use pgwire::api::Type;
use pgwire::api::portal::Format;
use pgwire::api::results::{DataRowEncoder, FieldFormat, FieldInfo};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::data::DataRow;

/// The PostgreSQL type of an Arrow column, and its type modifier (NUMERIC's
/// precision and scale; -1 when none).
pub fn pg_type(dt: &DataType) -> (Type, i32) {
    match dt {
        DataType::Boolean => (Type::BOOL, -1),
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => (Type::INT2, -1),
        DataType::Int32 | DataType::UInt16 => (Type::INT4, -1),
        DataType::Int64 | DataType::UInt32 => (Type::INT8, -1),
        DataType::UInt64 => (Type::NUMERIC, -1),
        DataType::Float16 | DataType::Float32 => (Type::FLOAT4, -1),
        DataType::Float64 => (Type::FLOAT8, -1),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => (
            Type::NUMERIC,
            ((i32::from(*p) << 16) | (i32::from(*s) & 0xffff)) + 4,
        ),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => (Type::TEXT, -1),
        DataType::Date32 | DataType::Date64 => (Type::DATE, -1),
        DataType::Time32(_) | DataType::Time64(_) => (Type::TIME, -1),
        DataType::Timestamp(_, None) => (Type::TIMESTAMP, -1),
        DataType::Timestamp(_, Some(_)) => (Type::TIMESTAMPTZ, -1),
        DataType::Interval(_) | DataType::Duration(_) => (Type::INTERVAL, -1),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => (Type::BYTEA, -1),
        DataType::Dictionary(_, v) => pg_type(v),
        // Lists, structs, maps, NULL: their text, as DuckDB prints them.
        _ => (Type::TEXT, -1),
    }
}

/// The row description of `schema` in the formats the client asked for.
pub fn fields(schema: &Schema, format: &Format) -> Vec<FieldInfo> {
    schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| field(f.name(), f.data_type(), format.format_for(i)))
        .collect()
}

/// One column's description.
pub fn field(name: &str, dt: &DataType, format: FieldFormat) -> FieldInfo {
    let (ty, typmod) = pg_type(dt);
    // Binary NUMERIC needs a value type rust_decimal can hold; text always works.
    let format = if ty == Type::NUMERIC && matches!(dt, DataType::UInt64 | DataType::Decimal256(..))
    {
        FieldFormat::Text
    } else {
        format
    };
    FieldInfo::new(name.to_string(), None, None, ty, format).with_type_modifier(typmod)
}

fn encode_err(e: impl std::fmt::Display) -> PgWireError {
    PgWireError::ApiError(Box::new(std::io::Error::other(e.to_string())))
}

/// The rows of `batch` for a client that was described `fields`.
pub fn rows(batch: &RecordBatch, fields: &Arc<Vec<FieldInfo>>) -> PgWireResult<Vec<DataRow>> {
    let mut encoder = DataRowEncoder::new(Arc::clone(fields));
    let mut out = Vec::with_capacity(batch.num_rows());
    let options = FormatOptions::default();
    let formatters: Vec<Option<ArrayFormatter>> = batch
        .columns()
        .iter()
        .map(|a| ArrayFormatter::try_new(a.as_ref(), &options).ok())
        .collect();
    for row in 0..batch.num_rows() {
        for (c, array) in batch.columns().iter().enumerate() {
            encode_value(&mut encoder, array.as_ref(), row, formatters[c].as_ref())?;
        }
        out.push(encoder.take_row());
    }
    Ok(out)
}

/// One value of `array` at `row` into the row being built.
fn encode_value(
    enc: &mut DataRowEncoder,
    array: &dyn Array,
    row: usize,
    text: Option<&ArrayFormatter>,
) -> PgWireResult<()> {
    macro_rules! prim {
        ($t:ty, $conv:expr) => {{
            let a = array.as_primitive::<$t>();
            let v = (!a.is_null(row)).then(|| $conv(a.value(row)));
            enc.encode_field(&v)
        }};
    }
    match array.data_type() {
        DataType::Boolean => {
            let a = array.as_boolean();
            enc.encode_field(&(!a.is_null(row)).then(|| a.value(row)))
        }
        DataType::Int8 => prim!(Int8Type, i16::from),
        DataType::Int16 => prim!(Int16Type, |v: i16| v),
        DataType::Int32 => prim!(Int32Type, |v: i32| v),
        DataType::Int64 => prim!(Int64Type, |v: i64| v),
        DataType::UInt8 => prim!(UInt8Type, i16::from),
        DataType::UInt16 => prim!(UInt16Type, i32::from),
        DataType::UInt32 => prim!(UInt32Type, i64::from),
        DataType::Float32 => prim!(Float32Type, |v: f32| v),
        DataType::Float64 => prim!(Float64Type, |v: f64| v),
        DataType::Decimal128(_, scale) => {
            let a = array.as_primitive::<Decimal128Type>();
            if a.is_null(row) {
                return enc.encode_field(&None::<rust_decimal::Decimal>);
            }
            let d = rust_decimal::Decimal::try_from_i128_with_scale(a.value(row), *scale as u32)
                .map_err(encode_err)?;
            enc.encode_field(&Some(d))
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let v = (!array.is_null(row)).then(|| match array.data_type() {
                DataType::Utf8 => array.as_string::<i32>().value(row),
                DataType::LargeUtf8 => array.as_string::<i64>().value(row),
                _ => array.as_string_view().value(row),
            });
            enc.encode_field(&v)
        }
        DataType::Date32 => prim!(Date32Type, |v: i32| {
            chrono::NaiveDate::from_num_days_from_ce_opt(v + 719_163).unwrap_or_default()
        }),
        DataType::Time64(arrow::datatypes::TimeUnit::Microsecond) => {
            prim!(Time64MicrosecondType, |v: i64| {
                chrono::NaiveTime::from_num_seconds_from_midnight_opt(
                    (v / 1_000_000) as u32,
                    ((v % 1_000_000) * 1000) as u32,
                )
                .unwrap_or_default()
            })
        }
        DataType::Timestamp(unit, tz) => {
            let micros = |v: i64| -> i64 {
                match unit {
                    TimeUnit::Second => v * 1_000_000,
                    TimeUnit::Millisecond => v * 1_000,
                    TimeUnit::Microsecond => v,
                    TimeUnit::Nanosecond => v / 1_000,
                }
            };
            let raw = if array.is_null(row) {
                None
            } else {
                Some(match unit {
                    TimeUnit::Second => array.as_primitive::<TimestampSecondType>().value(row),
                    TimeUnit::Millisecond => {
                        array.as_primitive::<TimestampMillisecondType>().value(row)
                    }
                    TimeUnit::Microsecond => {
                        array.as_primitive::<TimestampMicrosecondType>().value(row)
                    }
                    TimeUnit::Nanosecond => {
                        array.as_primitive::<TimestampNanosecondType>().value(row)
                    }
                })
            };
            let at = raw.and_then(|v| chrono::DateTime::from_timestamp_micros(micros(v)));
            match tz {
                None => enc.encode_field(&at.map(|t| t.naive_utc())),
                Some(_) => enc.encode_field(&at),
            }
        }
        DataType::Interval(IntervalUnit::MonthDayNano) => {
            let a = array.as_primitive::<IntervalMonthDayNanoType>();
            let v = (!a.is_null(row)).then(|| {
                let i = a.value(row);
                pg_interval::Interval::new(i.months, i.days, i.nanoseconds / 1_000)
            });
            enc.encode_field(&v)
        }
        DataType::Binary => {
            let a = array.as_binary::<i32>();
            enc.encode_field(&(!a.is_null(row)).then(|| a.value(row).to_vec()))
        }
        _ => {
            // Everything else as the text DuckDB's Arrow output prints.
            let v = (!array.is_null(row))
                .then(|| text.map(|f| f.value(row).to_string()).unwrap_or_default());
            enc.encode_field(&v)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_column_type_of_the_schema_and_its_aggregates_has_an_oid() {
        assert_eq!(pg_type(&DataType::Int16).0, Type::INT2);
        assert_eq!(pg_type(&DataType::Int32).0, Type::INT4);
        assert_eq!(pg_type(&DataType::Int64).0, Type::INT8);
        assert_eq!(pg_type(&DataType::Float64).0, Type::FLOAT8);
        assert_eq!(pg_type(&DataType::Boolean).0, Type::BOOL);
        assert_eq!(pg_type(&DataType::Utf8).0, Type::TEXT);
        assert_eq!(pg_type(&DataType::Date32).0, Type::DATE);
        assert_eq!(
            pg_type(&DataType::Timestamp(TimeUnit::Microsecond, None)).0,
            Type::TIMESTAMP
        );
        assert_eq!(
            pg_type(&DataType::Interval(IntervalUnit::MonthDayNano)).0,
            Type::INTERVAL
        );
        // NUMERIC(18, 2): PostgreSQL's type modifier ((18 << 16) | 2) + 4.
        assert_eq!(
            pg_type(&DataType::Decimal128(18, 2)),
            (Type::NUMERIC, 1_179_654)
        );
        // A sum of DECIMAL(18, 2) is DECIMAL(38, 2).
        assert_eq!(pg_type(&DataType::Decimal128(38, 2)).0, Type::NUMERIC);
    }
}
