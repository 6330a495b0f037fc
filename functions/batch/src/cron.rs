//! EventBridge cron expressions, `cron(minutes hours day-of-month month day-of-week
//! year)`, and the next time one fires in a time zone.
//!
//! The subset we read: numbers, `*`, `?` (day-of-month or day-of-week, one of which
//! must be `?`), lists (`,`), ranges (`-`), increments (`/`), `JAN`-`DEC` and
//! `SUN`-`SAT` (day-of-week `1`-`7` is `SUN`-`SAT`, as in EventBridge). `L`, `W` and `#`
//! are refused. Time zones are fixed offsets from a table: `Asia/Seoul` (+09:00, no
//! daylight saving since 1988) and `UTC`; any other is refused, so a deploy that names
//! one fails at start rather than computing wrong times.

use time::{Date, Duration, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// A time zone of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zone {
    pub name: &'static str,
    pub offset: UtcOffset,
}

/// The zones we can compute in: fixed offsets only.
const ZONES: &[(&str, i8)] = &[("Asia/Seoul", 9), ("UTC", 0), ("Etc/UTC", 0)];

impl Zone {
    pub fn parse(name: &str) -> Result<Self, String> {
        ZONES
            .iter()
            .find(|(zone, _)| *zone == name)
            .and_then(|(zone, hours)| {
                UtcOffset::from_hms(*hours, 0, 0)
                    .ok()
                    .map(|offset| Self { name: zone, offset })
            })
            .ok_or_else(|| {
                let known: Vec<&str> = ZONES.iter().map(|(zone, _)| *zone).collect();
                format!(
                    "{name:?} is not a supported time zone ({})",
                    known.join(", ")
                )
            })
    }
}

/// A parsed expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: Vec<bool>,
    hours: Vec<bool>,
    days: Days,
    /// Index 1-12.
    months: Vec<bool>,
    /// `None`: every year.
    years: Option<Vec<i32>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Days {
    /// Day-of-month, index 1-31.
    OfMonth(Vec<bool>),
    /// Day-of-week, index 0-6 = Sunday-Saturday.
    OfWeek(Vec<bool>),
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

impl Cron {
    /// Parses `cron(...)`.
    pub fn parse(expression: &str) -> Result<Self, String> {
        let inner = expression
            .trim()
            .strip_prefix("cron(")
            .and_then(|rest| rest.strip_suffix(')'))
            .ok_or_else(|| format!("{expression:?} is not a cron(...) expression"))?;
        let parts: Vec<&str> = inner.split_whitespace().collect();
        let [minutes, hours, day_of_month, month, day_of_week, year] = parts[..] else {
            return Err(format!(
                "{expression:?} needs six fields: minutes hours day-of-month month day-of-week year"
            ));
        };
        let field = |name: &str, text: &str, min: u32, max: u32, names: &[&str]| {
            parse_field(text, min, max, names).map_err(|e| format!("{name} {text:?}: {e}"))
        };
        let days = match (day_of_month, day_of_week) {
            ("?", "?") => return Err("only one of day-of-month and day-of-week may be ?".into()),
            (dom, "?") => Days::OfMonth(field("day-of-month", dom, 1, 31, &[])?),
            ("?", dow) => {
                // 1-7 = SUN-SAT; shift to 0-6.
                let set = field("day-of-week", dow, 1, 7, &WEEKDAYS)?;
                Days::OfWeek(set[1..].to_vec())
            }
            _ => return Err("one of day-of-month and day-of-week must be ?".into()),
        };
        let years = match year {
            "*" => None,
            text => {
                let set = field("year", text, 1970, 2199, &[])?;
                Some(
                    set.iter()
                        .enumerate()
                        .filter(|(_, on)| **on)
                        .map(|(y, _)| y as i32)
                        .collect(),
                )
            }
        };
        Ok(Self {
            minutes: field("minutes", minutes, 0, 59, &[])?,
            hours: field("hours", hours, 0, 23, &[])?,
            days,
            months: field("month", month, 1, 12, &MONTHS)?,
            years,
        })
    }

    /// The first time after `after` (strictly) that the expression fires in `zone`, or
    /// `None` if it never fires again.
    pub fn next_after(&self, after: OffsetDateTime, zone: Zone) -> Option<OffsetDateTime> {
        let local = after.to_offset(zone.offset);
        // The next whole minute strictly after `after`.
        let start = PrimitiveDateTime::new(
            local.date(),
            Time::from_hms(local.hour(), local.minute(), 0).ok()?,
        ) + Duration::minutes(1);
        let mut date = start.date();
        // Eight years reach the next 29 February from any date.
        for _ in 0..(366 * 8 + 2) {
            if self.matches_date(date) {
                let from = if date == start.date() {
                    (start.hour(), start.minute())
                } else {
                    (0, 0)
                };
                if let Some((hour, minute)) = self.first_time_from(from) {
                    let time = Time::from_hms(hour, minute, 0).ok()?;
                    return Some(PrimitiveDateTime::new(date, time).assume_offset(zone.offset));
                }
            }
            date = date.next_day()?;
        }
        None
    }

    fn matches_date(&self, date: Date) -> bool {
        let year_ok = self
            .years
            .as_ref()
            .is_none_or(|years| years.contains(&date.year()));
        let month_ok = self.months[u8::from(date.month()) as usize];
        let day_ok = match &self.days {
            Days::OfMonth(days) => days[date.day() as usize],
            Days::OfWeek(days) => days[date.weekday().number_days_from_sunday() as usize],
        };
        year_ok && month_ok && day_ok
    }

    fn first_time_from(&self, (hour, minute): (u8, u8)) -> Option<(u8, u8)> {
        (hour..24)
            .filter(|h| self.hours[*h as usize])
            .find_map(|h| {
                let first = if h == hour { minute } else { 0 };
                (first..60)
                    .find(|m| self.minutes[*m as usize])
                    .map(|m| (h, m))
            })
    }
}

/// One field: a set over `0..=max` (only `min..=max` ever set).
fn parse_field(text: &str, min: u32, max: u32, names: &[&str]) -> Result<Vec<bool>, String> {
    let mut set = vec![false; max as usize + 1];
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => {
                let step: u32 = step
                    .parse()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("bad increment {step:?}"))?;
                (range, step)
            }
            None => (item, 1),
        };
        let (from, to) = match range {
            "*" => (min, max),
            _ => match range.split_once('-') {
                Some((a, b)) => (value(a, min, max, names)?, value(b, min, max, names)?),
                None => {
                    let a = value(range, min, max, names)?;
                    // `a/n` runs from a to the end; a bare `a` is just a.
                    (a, if item.contains('/') { max } else { a })
                }
            },
        };
        if from > to {
            return Err(format!("range {range:?} runs backwards"));
        }
        for v in (from..=to).step_by(step as usize) {
            set[v as usize] = true;
        }
    }
    Ok(set)
}

fn value(text: &str, min: u32, max: u32, names: &[&str]) -> Result<u32, String> {
    let upper = text.to_ascii_uppercase();
    if let Some(i) = names.iter().position(|n| *n == upper) {
        return Ok(min + i as u32);
    }
    match text.parse::<u32>() {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        Ok(v) => Err(format!("{v} is outside {min}-{max}")),
        Err(_) => Err(format!("{text:?} is not supported")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seoul() -> Zone {
        Zone::parse("Asia/Seoul").unwrap()
    }

    /// `table`: one case a line, `<expression> @ <instant> -> <next firing>` (UTC
    /// instants; `never` for none).
    fn check(zone: &str, table: &str) {
        let format = time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute][optional [:[second]]]"
        );
        let at = |text: &str| PrimitiveDateTime::parse(text.trim(), format).unwrap();
        for line in table.lines().filter(|l| !l.trim().is_empty()) {
            let (expr, times) = line.split_once('@').unwrap();
            let (after, expected) = times.split_once("->").unwrap();
            let expected = (expected.trim() != "never").then(|| at(expected).assume_utc());
            let next = Cron::parse(expr.trim())
                .unwrap()
                .next_after(at(after).assume_utc(), Zone::parse(zone).unwrap());
            assert_eq!(next, expected, "in {zone}: {line}");
        }
    }

    #[test]
    fn dev_runs_saturday_noon_in_seoul_which_is_three_utc() {
        // 2026-11-28 is a Saturday; the next firing is strictly after the instant;
        // Friday 20:00 UTC is already Saturday 05:00 in Seoul: noon the same Seoul day.
        check(
            "Asia/Seoul",
            "cron(0 12 ? * SAT *) @ 2026-11-28 02:59 -> 2026-11-28 03:00
             cron(0 12 ? * SAT *) @ 2026-11-28 03:00:01 -> 2026-12-05 03:00
             cron(0 12 ? * SAT *) @ 2026-11-28 03:00 -> 2026-12-05 03:00
             cron(0 12 ? * SAT *) @ 2026-11-27 20:00 -> 2026-11-28 03:00",
        );
    }

    #[test]
    fn prod_runs_sunday_midnight_in_seoul_which_is_saturday_fifteen_utc() {
        // Saturday 15:30 UTC is Sunday 00:30 in Seoul: a week later. The same expression
        // in UTC fires on Sunday itself.
        check(
            "Asia/Seoul",
            "cron(0 0 ? * SUN *) @ 2026-11-28 14:59 -> 2026-11-28 15:00
             cron(0 0 ? * SUN *) @ 2026-11-28 15:30 -> 2026-12-05 15:00",
        );
        check(
            "UTC",
            "cron(0 0 ? * SUN *) @ 2026-11-28 15:30 -> 2026-11-29 00:00",
        );
        // Numbers: 1 is Sunday.
        assert_eq!(
            Cron::parse("cron(0 0 ? * 1 *)"),
            Cron::parse("cron(0 0 ? * SUN *)")
        );
    }

    #[test]
    fn lists_ranges_increments_and_days_of_month() {
        // The first: after Friday's last slot, Monday 09:00.
        check(
            "UTC",
            "cron(0/15 9-17 ? * MON-FRI *) @ 2026-11-27 17:50 -> 2026-11-30 09:00
             cron(0/15 9-17 ? * MON-FRI *) @ 2026-11-27 10:07 -> 2026-11-27 10:15
             cron(30 6,18 1,15 * ? *) @ 2026-11-15 18:30 -> 2026-12-01 06:30
             cron(0 0 29 FEB ? *) @ 2026-03-01 00:00 -> 2028-02-29 00:00
             cron(0 0 1 JAN ? 2020-2021) @ 2026-03-01 00:00 -> never
             cron(* * * * ? *) @ 2026-03-01 00:00:30 -> 2026-03-01 00:01",
        );
    }

    #[test]
    fn what_we_cannot_compute_is_refused() {
        for bad in [
            "rate(7 days)",
            "0 12 ? * SAT *",
            "cron(0 12 ? * SAT)",
            "cron(0 12 * * SAT *)",
            "cron(0 12 ? * ? *)",
            "cron(0 12 L * ? *)",
            "cron(0 12 ? * 6#3 *)",
            "cron(0 12 15W * ? *)",
            "cron(60 12 ? * SAT *)",
            "cron(0 24 ? * SAT *)",
            "cron(0 12 ? * 0 *)",
            "cron(0 12 ? * FRI-MON *)",
            "cron(0/0 12 ? * SAT *)",
            "cron(0 12 ? * SAT 1969)",
        ] {
            assert!(Cron::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(seoul().offset, UtcOffset::from_hms(9, 0, 0).unwrap());
        assert!(Zone::parse("America/New_York").is_err());
        assert!(Zone::parse("asia/seoul").is_err());
    }
}
