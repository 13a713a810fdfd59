//! Content checksums over Arrow data.
//!
//! A row's hash folds its column values (as values, not bytes: a decimal read
//! back from CSV hashes like the one written to Parquet); a table's checksum is
//! the wrapping sum of its row hashes. Sums commute, so the checksum of a table
//! does not depend on how it was split into files, row groups, parts or
//! threads, and part checksums add up to the whole. Row order is checked
//! separately (the data is sorted by date).

use anyhow::{Result, bail};
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Float64Type, Int16Type, Int32Type, Int64Type,
};

use crate::util::mix64;

const K: u64 = 0x9e37_79b9_7f4a_7c15;
const NULL: u64 = 0x6e75_6c6c_6e75_6c6c;

#[inline(always)]
fn step(h: u64, v: u64) -> u64 {
    (h.rotate_left(23) ^ v).wrapping_mul(K)
}

fn fold<T: Copy>(h: &mut [u64], col: &dyn Array, values: &[T], f: impl Fn(T) -> u64) {
    if col.null_count() == 0 {
        for (h, v) in h.iter_mut().zip(values) {
            *h = step(*h, f(*v));
        }
    } else {
        for (i, (h, v)) in h.iter_mut().zip(values).enumerate() {
            *h = step(*h, if col.is_null(i) { NULL } else { f(*v) });
        }
    }
}

/// The content checksum of a batch (wrapping sum of row hashes).
pub fn batch_checksum(batch: &RecordBatch) -> Result<u64> {
    let n = batch.num_rows();
    let mut h = vec![batch.num_columns() as u64; n];
    for col in batch.columns() {
        let col = col.as_ref();
        match col.data_type() {
            DataType::Int16 => fold(&mut h, col, col.as_primitive::<Int16Type>().values(), |v| {
                v as i64 as u64
            }),
            DataType::Int32 => fold(&mut h, col, col.as_primitive::<Int32Type>().values(), |v| {
                v as i64 as u64
            }),
            DataType::Int64 => fold(&mut h, col, col.as_primitive::<Int64Type>().values(), |v| {
                v as u64
            }),
            DataType::Date32 => fold(
                &mut h,
                col,
                col.as_primitive::<Date32Type>().values(),
                |v| v as i64 as u64 ^ 0xda7e,
            ),
            DataType::Decimal128(_, _) => fold(
                &mut h,
                col,
                col.as_primitive::<Decimal128Type>().values(),
                |v| (v as u64) ^ ((v >> 64) as u64).wrapping_mul(K),
            ),
            DataType::Float64 => fold(
                &mut h,
                col,
                col.as_primitive::<Float64Type>().values(),
                |v| v.to_bits(),
            ),
            DataType::Boolean => {
                let b = col.as_boolean();
                for (i, h) in h.iter_mut().enumerate() {
                    *h = step(
                        *h,
                        if b.is_null(i) {
                            NULL
                        } else {
                            b.value(i) as u64 + 0xb001
                        },
                    );
                }
            }
            DataType::Utf8 => {
                let s = col.as_string::<i32>();
                for (i, h) in h.iter_mut().enumerate() {
                    let v = if s.is_null(i) {
                        NULL
                    } else {
                        xxhash_rust::xxh3::xxh3_64(s.value(i).as_bytes())
                    };
                    *h = step(*h, v);
                }
            }
            other => bail!("no checksum for column type {other}"),
        }
    }
    Ok(h.iter().fold(0u64, |acc, &x| acc.wrapping_add(mix64(x))))
}

/// Checksums are stored as 16 hex digits (JSON numbers lose precision past 2^53).
pub fn to_hex(c: u64) -> String {
    format!("{c:016x}")
}

pub fn from_hex(s: &str) -> Option<u64> {
    u64::from_str_radix(s, 16).ok()
}
