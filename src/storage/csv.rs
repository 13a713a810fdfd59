//! CSV (RFC 4180) encoding of our Arrow types, written by hand for speed: the
//! generic arrow-csv writer formats through `Display` and is several times
//! slower on the fact table. Reading goes through arrow-csv with our schema.

use std::io::Write;

use anyhow::{Result, bail};
use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Float64Type, Int16Type, Int32Type, Int64Type, SchemaRef,
};

/// The header line.
pub fn header(schema: &SchemaRef, out: &mut Vec<u8>) {
    for (i, f) in schema.fields().iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_str(out, f.name());
    }
    out.extend_from_slice(b"\r\n");
}

fn push_str(out: &mut Vec<u8>, s: &str) {
    if s.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
        out.push(b'"');
        for b in s.bytes() {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(s.as_bytes());
    }
}

/// "YYYY-MM-DD" for days since 1970-01-01 (Howard Hinnant's civil_from_days).
pub fn push_date(out: &mut Vec<u8>, days: i32) {
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let y = yoe + era * 400 + (m <= 2) as i64;
    if (0..=9999).contains(&y) {
        let y = y as u16;
        out.extend_from_slice(&[
            b'0' + (y / 1000) as u8,
            b'0' + (y / 100 % 10) as u8,
            b'0' + (y / 10 % 10) as u8,
            b'0' + (y % 10) as u8,
            b'-',
            b'0' + m / 10,
            b'0' + m % 10,
            b'-',
            b'0' + d / 10,
            b'0' + d % 10,
        ]);
    } else {
        let _ = write!(out, "{y:04}-{m:02}-{d:02}");
    }
}

fn push_decimal(out: &mut Vec<u8>, v: i128, scale: u32, buf: &mut itoa::Buffer) {
    if v < 0 {
        out.push(b'-');
    }
    let a = v.unsigned_abs();
    let p = 10u128.pow(scale);
    out.extend_from_slice(buf.format(a / p).as_bytes());
    if scale > 0 {
        out.push(b'.');
        let frac = buf.format(a % p + p);
        out.extend_from_slice(&frac.as_bytes()[1..]);
    }
}

enum Col<'a> {
    I16(&'a [i16]),
    I32(&'a [i32]),
    I64(&'a [i64]),
    Date(&'a [i32]),
    Dec(&'a [i128], u32),
    F64(&'a [f64]),
    Bool(&'a arrow::array::BooleanArray),
    Str(&'a arrow::array::StringArray),
}

fn view(col: &ArrayRef) -> Result<Col<'_>> {
    Ok(match col.data_type() {
        DataType::Int16 => Col::I16(col.as_primitive::<Int16Type>().values()),
        DataType::Int32 => Col::I32(col.as_primitive::<Int32Type>().values()),
        DataType::Int64 => Col::I64(col.as_primitive::<Int64Type>().values()),
        DataType::Date32 => Col::Date(col.as_primitive::<Date32Type>().values()),
        DataType::Decimal128(_, s) => {
            Col::Dec(col.as_primitive::<Decimal128Type>().values(), *s as u32)
        }
        DataType::Float64 => Col::F64(col.as_primitive::<Float64Type>().values()),
        DataType::Boolean => Col::Bool(col.as_boolean()),
        DataType::Utf8 => Col::Str(col.as_string::<i32>()),
        other => bail!("no CSV encoding for column type {other}"),
    })
}

/// Appends the batch's rows (no header) to `out`.
pub fn encode(batch: &RecordBatch, out: &mut Vec<u8>) -> Result<()> {
    let cols: Vec<Col> = batch.columns().iter().map(view).collect::<Result<_>>()?;
    let nulls: Vec<bool> = batch.columns().iter().map(|c| c.null_count() > 0).collect();
    let mut buf = itoa::Buffer::new();
    for i in 0..batch.num_rows() {
        for (j, col) in cols.iter().enumerate() {
            if j > 0 {
                out.push(b',');
            }
            if nulls[j] && batch.column(j).is_null(i) {
                continue;
            }
            match col {
                Col::I16(v) => out.extend_from_slice(buf.format(v[i]).as_bytes()),
                Col::I32(v) => out.extend_from_slice(buf.format(v[i]).as_bytes()),
                Col::I64(v) => out.extend_from_slice(buf.format(v[i]).as_bytes()),
                Col::Date(v) => push_date(out, v[i]),
                Col::Dec(v, s) => push_decimal(out, v[i], *s, &mut buf),
                Col::F64(v) => {
                    let _ = write!(out, "{}", v[i]);
                }
                Col::Bool(b) => out.extend_from_slice(if b.value(i) { b"true" } else { b"false" }),
                Col::Str(s) => push_str(out, s.value(i)),
            }
        }
        out.extend_from_slice(b"\r\n");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn date32(d: NaiveDate) -> i32 {
        (d - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()).num_days() as i32
    }

    #[test]
    fn dates_and_decimals_format_exactly() {
        let mut out = Vec::new();
        for d in [
            NaiveDate::from_ymd_opt(2021, 1, 1).unwrap(),
            NaiveDate::from_ymd_opt(2024, 2, 29).unwrap(),
            NaiveDate::from_ymd_opt(1969, 12, 31).unwrap(),
        ] {
            out.clear();
            push_date(&mut out, date32(d));
            assert_eq!(
                String::from_utf8(out.clone()).unwrap(),
                d.format("%Y-%m-%d").to_string()
            );
        }
        let mut buf = itoa::Buffer::new();
        for (v, s) in [
            (12345i128, "123.45"),
            (-5, "-0.05"),
            (0, "0.00"),
            (100, "1.00"),
            (-100_007, "-1000.07"),
        ] {
            out.clear();
            push_decimal(&mut out, v, 2, &mut buf);
            assert_eq!(std::str::from_utf8(&out).unwrap(), s);
        }
    }

    #[test]
    fn quotes_only_when_needed() {
        let mut out = Vec::new();
        push_str(&mut out, "plain");
        push_str(&mut out, "a,b");
        push_str(&mut out, "say \"hi\"");
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            "plain\"a,b\"\"say \"\"hi\"\"\""
        );
    }
}
