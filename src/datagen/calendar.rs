//! The days of the span: attributes for `dim_time`, a fixed holiday calendar,
//! and the demand weight of each day that shapes the fact table (growth,
//! seasonality, weekends, retail events).

use chrono::{Datelike, NaiveDate, Weekday};

/// Days from 0001-01-01 (CE) to 1970-01-01: converts chrono's day numbers to
/// Arrow's Date32 (days since the Unix epoch).
const UNIX_EPOCH_FROM_CE: i32 = 719_163;

pub fn date32(d: NaiveDate) -> i32 {
    d.num_days_from_ce() - UNIX_EPOCH_FROM_CE
}

pub fn from_date32(days: i32) -> NaiveDate {
    NaiveDate::from_num_days_from_ce_opt(days + UNIX_EPOCH_FROM_CE).expect("date32 in range")
}

/// Year-over-year growth of demand.
pub const ANNUAL_GROWTH: f64 = 0.12;
/// Demand by month, January first: a Q4 peak and a post-holiday dip.
pub const MONTH_SEASONALITY: [f64; 12] = [
    0.82, 0.80, 0.92, 0.94, 0.98, 0.96, 0.98, 1.00, 0.94, 1.00, 1.25, 1.45,
];
/// Demand by ISO weekday, Monday first: weekends are busier.
pub const WEEKDAY_FACTOR: [f64; 7] = [0.92, 0.88, 0.90, 0.95, 1.08, 1.22, 1.10];

pub const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
pub const DAY_NAMES: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// One calendar day with everything the generators need.
#[derive(Debug, Clone)]
pub struct Day {
    pub date: NaiveDate,
    /// Arrow Date32 value.
    pub date32: i32,
    /// yyyymmdd.
    pub time_key: i32,
    pub year: i32,
    pub month: u32,
    pub day: u32,
    /// ISO: 1 = Monday .. 7 = Sunday.
    pub day_of_week: u32,
    pub holiday: Option<&'static str>,
    /// A retail event that moves demand without being a holiday (Black Friday).
    pub event: Option<&'static str>,
    /// Relative demand (growth x season x weekday x event).
    pub demand: f64,
    /// Share of line items sold on promotion that day.
    pub promo_rate: f64,
}

impl Day {
    pub fn quarter(&self) -> u32 {
        (self.month - 1) / 3 + 1
    }
    pub fn is_weekend(&self) -> bool {
        self.day_of_week >= 6
    }
}

/// The nth `weekday` of a month (n from 1), or the last one when n == 0.
fn nth_weekday(year: i32, month: u32, weekday: Weekday, n: u8) -> NaiveDate {
    if n == 0 {
        let next = if month == 12 {
            NaiveDate::from_ymd_opt(year + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(year, month + 1, 1)
        }
        .expect("valid date");
        let mut d = next.pred_opt().expect("valid date");
        while d.weekday() != weekday {
            d = d.pred_opt().expect("valid date");
        }
        d
    } else {
        NaiveDate::from_weekday_of_month_opt(year, month, weekday, n).expect("valid date")
    }
}

/// The fixed holiday calendar (US federal retail holidays), documented in
/// docs/architecture.md: New Year's Day, Martin Luther King Jr. Day (3rd Mon
/// Jan), Presidents' Day (3rd Mon Feb), Memorial Day (last Mon May),
/// Independence Day (Jul 4), Labor Day (1st Mon Sep), Thanksgiving Day (4th Thu
/// Nov), Christmas Day. Fixed dates are not shifted to weekdays.
pub fn holiday(date: NaiveDate) -> Option<&'static str> {
    let (y, m, d) = (date.year(), date.month(), date.day());
    let is = |other: NaiveDate| other == date;
    match (m, d) {
        (1, 1) => Some("New Year's Day"),
        (7, 4) => Some("Independence Day"),
        (12, 25) => Some("Christmas Day"),
        _ if is(nth_weekday(y, 1, Weekday::Mon, 3)) => Some("Martin Luther King Jr. Day"),
        _ if is(nth_weekday(y, 2, Weekday::Mon, 3)) => Some("Presidents' Day"),
        _ if is(nth_weekday(y, 5, Weekday::Mon, 0)) => Some("Memorial Day"),
        _ if is(nth_weekday(y, 9, Weekday::Mon, 1)) => Some("Labor Day"),
        _ if is(nth_weekday(y, 11, Weekday::Thu, 4)) => Some("Thanksgiving Day"),
        _ => None,
    }
}

/// Retail events and their demand multipliers.
fn event(date: NaiveDate) -> Option<(&'static str, f64)> {
    let thanksgiving = nth_weekday(date.year(), 11, Weekday::Thu, 4);
    let days_after = (date - thanksgiving).num_days();
    match days_after {
        0 => return Some(("Thanksgiving", 0.70)),
        1 => return Some(("Black Friday", 2.60)),
        4 => return Some(("Cyber Monday", 2.00)),
        _ => {}
    }
    match (date.month(), date.day()) {
        (1, 1) => Some(("New Year's Day", 0.60)),
        (12, 15..=23) => Some(("Holiday rush", 1.25)),
        (12, 24) => Some(("Christmas Eve", 1.10)),
        (12, 25) => Some(("Christmas Day", 0.35)),
        (12, 26) => Some(("Boxing Day", 1.30)),
        _ => None,
    }
}

/// The span's days in order.
pub fn days(start: NaiveDate, end: NaiveDate) -> Vec<Day> {
    let mut out = Vec::with_capacity((end - start).num_days() as usize + 1);
    let mut date = start;
    while date <= end {
        let years = (date - start).num_days() as f64 / 365.25;
        let dow = date.weekday().number_from_monday();
        let ev = event(date);
        let month = date.month();
        let demand = (1.0 + ANNUAL_GROWTH).powf(years)
            * MONTH_SEASONALITY[month as usize - 1]
            * WEEKDAY_FACTOR[dow as usize - 1]
            * ev.map_or(1.0, |e| e.1);
        let promo_rate = match ev.map(|e| e.0) {
            Some("Black Friday") | Some("Cyber Monday") => 0.55,
            _ if month >= 11 => 0.22,
            _ if month == 1 || month == 7 => 0.18,
            _ => 0.12,
        };
        out.push(Day {
            date,
            date32: date32(date),
            time_key: date.year() * 10_000 + month as i32 * 100 + date.day() as i32,
            year: date.year(),
            month,
            day: date.day(),
            day_of_week: dow,
            holiday: holiday(date),
            event: ev.map(|e| e.0),
            demand,
            promo_rate,
        });
        date = date.succ_opt().expect("date in range");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn holiday_calendar_matches_known_dates() {
        assert_eq!(holiday(ymd(2023, 11, 23)), Some("Thanksgiving Day"));
        assert_eq!(holiday(ymd(2022, 5, 30)), Some("Memorial Day"));
        assert_eq!(holiday(ymd(2021, 9, 6)), Some("Labor Day"));
        assert_eq!(
            holiday(ymd(2023, 1, 16)),
            Some("Martin Luther King Jr. Day")
        );
        assert_eq!(holiday(ymd(2023, 2, 20)), Some("Presidents' Day"));
        assert_eq!(holiday(ymd(2023, 7, 4)), Some("Independence Day"));
        assert_eq!(holiday(ymd(2023, 7, 5)), None);
        let n = days(ymd(2021, 1, 1), ymd(2023, 12, 31))
            .iter()
            .filter(|d| d.holiday.is_some())
            .count();
        assert_eq!(n, 8 * 3);
    }

    #[test]
    fn date32_round_trips() {
        assert_eq!(date32(ymd(1970, 1, 1)), 0);
        assert_eq!(date32(ymd(2021, 1, 1)), 18_628);
        assert_eq!(from_date32(18_628), ymd(2021, 1, 1));
    }

    #[test]
    fn black_friday_is_the_peak() {
        let all = days(ymd(2022, 1, 1), ymd(2022, 12, 31));
        let peak = all
            .iter()
            .max_by(|a, b| a.demand.total_cmp(&b.demand))
            .unwrap();
        assert_eq!(peak.event, Some("Black Friday"));
        assert_eq!(all.len(), 365);
    }
}
