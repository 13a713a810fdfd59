//! Error kinds that decide the exit code: a [`CheckFailed`] (a violated
//! invariant, a missed SLA or target, a regression) exits 1; a [`UserError`]
//! (bad flags, bad input, a data set that is missing or not ours) exits 2;
//! anything else (I/O, a full disk, DuckDB) is a runtime error and exits 3,
//! so a CI job can tell a regression from a broken machine.

use std::fmt;

/// Something the user can fix: a flag, a path, an id, a file that is not ours.
#[derive(Debug)]
pub struct UserError(pub String);

impl UserError {
    pub fn new(msg: impl Into<String>) -> UserError {
        UserError(msg.into())
    }
}

impl fmt::Display for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UserError {}

/// A check that ran and failed (its report was already printed).
#[derive(Debug)]
pub struct CheckFailed(pub String);

impl fmt::Display for CheckFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CheckFailed {}

/// Process exit code for an error.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    if err.chain().any(|e| e.is::<UserError>()) {
        2
    } else if err.chain().any(|e| e.is::<CheckFailed>()) {
        1
    } else {
        3
    }
}

/// Shorthand: `bail_user!("...")` returns a [`UserError`].
#[macro_export]
macro_rules! bail_user {
    ($($arg:tt)*) => {
        return Err($crate::error::UserError::new(format!($($arg)*)).into())
    };
}
