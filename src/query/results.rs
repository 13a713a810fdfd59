//! A query's result as a person and a program read it: column names with
//! their types, and every value as text (for tables) that serialises to JSON
//! typed, numbers as JSON numbers (exact: a DECIMAL keeps its digits), as
//! DuckDB's own `-json` mode gives them.

use arrow::array::RecordBatch;
use arrow::datatypes::DataType;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use serde::ser::{SerializeSeq, SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// A result column: its name and DuckDB-facing type (Arrow's name for it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub data_type: String,
    /// Numbers serialise as JSON numbers.
    #[serde(skip)]
    pub numeric: bool,
    /// Booleans serialise as JSON booleans.
    #[serde(skip)]
    pub boolean: bool,
}

/// Columns and rows of a result; `None` is SQL NULL.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResultSet {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Option<String>>>,
}

fn is_numeric(t: &DataType) -> bool {
    t.is_integer()
        || t.is_floating()
        || matches!(t, DataType::Decimal128(..) | DataType::Decimal256(..))
}

impl ResultSet {
    /// Formats the first `limit` rows of `batches`.
    pub fn from_batches(batches: &[RecordBatch], limit: usize) -> ResultSet {
        let Some(first) = batches.first() else {
            return ResultSet::default();
        };
        let columns = first
            .schema()
            .fields()
            .iter()
            .map(|f| Column {
                name: f.name().clone(),
                data_type: f.data_type().to_string(),
                numeric: is_numeric(f.data_type()),
                boolean: f.data_type() == &DataType::Boolean,
            })
            .collect();
        let opts = FormatOptions::default();
        let mut rows = Vec::new();
        'outer: for b in batches {
            let fmts: Vec<ArrayFormatter> = b
                .columns()
                .iter()
                .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts).expect("formattable"))
                .collect();
            for i in 0..b.num_rows() {
                if rows.len() >= limit {
                    break 'outer;
                }
                rows.push(
                    b.columns()
                        .iter()
                        .zip(&fmts)
                        .map(|(c, f)| (!c.is_null(i)).then(|| f.value(i).to_string()))
                        .collect(),
                );
            }
        }
        ResultSet { columns, rows }
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Values for display: NULL spelled out.
    pub fn text(&self) -> impl Iterator<Item = Vec<&str>> {
        self.rows
            .iter()
            .map(|r| r.iter().map(|v| v.as_deref().unwrap_or("NULL")).collect())
    }
}

/// A numeric value's text as a JSON number token, when it is one (NaN and
/// infinities are not: they stay strings).
fn number(text: &str) -> Option<Box<RawValue>> {
    let ok = text.parse::<f64>().is_ok_and(f64::is_finite)
        && !text.starts_with('+')
        && !text.starts_with('.')
        && !text.starts_with("-.")
        && !text.ends_with('.');
    ok.then(|| RawValue::from_string(text.to_string()).ok())
        .flatten()
}

/// Rows with the columns' types: numbers as numbers.
struct TypedRows<'a>(&'a [Column], &'a [Vec<Option<String>>]);

impl Serialize for TypedRows<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.1.len()))?;
        for row in self.1 {
            seq.serialize_element(&TypedRow(self.0, row))?;
        }
        seq.end()
    }
}

struct TypedRow<'a>(&'a [Column], &'a [Option<String>]);

impl Serialize for TypedRow<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.1.len()))?;
        for (c, v) in self.0.iter().zip(self.1) {
            match v {
                None => seq.serialize_element(&Option::<()>::None)?,
                Some(t) if c.numeric => match number(t) {
                    Some(raw) => seq.serialize_element(&raw)?,
                    None => seq.serialize_element(t)?,
                },
                Some(t) if c.boolean => seq.serialize_element(&(t == "true"))?,
                Some(t) => seq.serialize_element(t)?,
            }
        }
        seq.end()
    }
}

impl ResultSet {
    /// Each row as typed JSON text (numbers as numbers).
    pub fn json_rows(&self) -> impl Iterator<Item = String> + '_ {
        self.rows
            .iter()
            .map(|r| serde_json::to_string(&TypedRow(&self.columns, r)).expect("rows serialise"))
    }
}

impl Serialize for ResultSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("ResultSet", 2)?;
        st.serialize_field("columns", &self.columns)?;
        st.serialize_field("rows", &TypedRows(&self.columns, &self.rows))?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Decimal128Array, Int32Array, StringArray};
    use arrow::datatypes::{Field, Schema};
    use std::sync::Arc;

    #[test]
    fn numbers_serialise_as_exact_json_numbers() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("region", DataType::Utf8, true),
            Field::new("year", DataType::Int32, false),
            Field::new("revenue", DataType::Decimal128(38, 2), true),
            Field::new("weekend", DataType::Boolean, false),
        ]));
        let b = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec![Some("Europe"), None])),
                Arc::new(Int32Array::from(vec![2021, 2022])),
                Arc::new(
                    Decimal128Array::from(vec![Some(379045410), None])
                        .with_precision_and_scale(38, 2)
                        .unwrap(),
                ),
                Arc::new(arrow::array::BooleanArray::from(vec![true, false])),
            ],
        )
        .unwrap();
        let r = ResultSet::from_batches(&[b], 10);
        let json = serde_json::to_string(&r).unwrap();
        assert!(
            json.ends_with(r#""rows":[["Europe",2021,3790454.10,true],[null,2022,null,false]]}"#),
            "{json}"
        );
        assert!(
            json.contains(r#"{"name":"revenue","type":"Decimal128(38, 2)"}"#),
            "{json}"
        );
        assert_eq!(r.text().nth(1).unwrap(), ["NULL", "2022", "NULL", "false"]);
        assert_eq!(ResultSet::from_batches(&[], 10).len(), 0);
    }
}
