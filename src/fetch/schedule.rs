//! When to poll a feed next: pure functions of what the last polls showed (new items or
//! not, failures) and what the publisher asked for (HTTP `Cache-Control`/`Expires`/
//! `Retry-After`, RSS `<ttl>`, `sy:updatePeriod`/`sy:updateFrequency`, `<skipHours>`,
//! `<skipDays>`).

use chrono::{DateTime, Datelike, Duration, Timelike, Utc, Weekday};

/// What a feed document says about how often to poll it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedHints {
    /// RSS `<ttl>`, in seconds.
    pub ttl_secs: Option<u64>,
    /// `sy:updatePeriod` / `sy:updateFrequency`, in seconds between updates.
    pub update_secs: Option<u64>,
    /// `<skipHours>` (UTC hours 0–23).
    pub skip_hours: Vec<u32>,
    /// `<skipDays>`.
    pub skip_days: Vec<Weekday>,
}

impl FeedHints {
    /// The longest of the publisher's intervals, if any.
    pub fn min_interval_secs(&self) -> Option<u64> {
        self.ttl_secs.max(self.update_secs)
    }
}

fn text_of<'a>(doc: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = doc.find(&open)? + open.len();
    let end = doc[start..].find(&format!("</{tag}>"))? + start;
    Some(doc[start..end].trim())
}

/// Reads the scheduling hints from the start of a feed document (the channel header).
pub fn feed_hints(bytes: &[u8]) -> FeedHints {
    // The hints live in the channel header, before the items.
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(64 * 1024)]);
    let head = match head.find("<item") {
        Some(i) => &head[..i],
        None => &head[..],
    };
    let mut h = FeedHints {
        ttl_secs: text_of(head, "ttl")
            .and_then(|t| t.parse::<u64>().ok())
            .map(|m| m * 60),
        ..Default::default()
    };
    let period = text_of(head, "sy:updatePeriod").and_then(|p| match p {
        "hourly" => Some(3600u64),
        "daily" => Some(86_400),
        "weekly" => Some(7 * 86_400),
        "monthly" => Some(30 * 86_400),
        "yearly" => Some(365 * 86_400),
        _ => None,
    });
    let frequency = text_of(head, "sy:updateFrequency")
        .and_then(|f| f.parse::<u64>().ok())
        .filter(|f| *f > 0);
    h.update_secs = period.map(|p| p / frequency.unwrap_or(1));
    if let Some(block) = text_of(head, "skipHours") {
        let mut rest = block;
        while let Some(v) = text_of(rest, "hour") {
            if let Ok(n) = v.parse::<u32>() {
                h.skip_hours.push(n % 24);
            }
            rest = &rest[rest.find("</hour>").map_or(rest.len(), |i| i + 7)..];
        }
    }
    if let Some(block) = text_of(head, "skipDays") {
        let mut rest = block;
        while let Some(v) = text_of(rest, "day") {
            if let Ok(d) = v.parse::<Weekday>() {
                h.skip_days.push(d);
            }
            rest = &rest[rest.find("</day>").map_or(rest.len(), |i| i + 6)..];
        }
    }
    h
}

/// Bounds of the polling interval of one feed, seconds.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub min: f64,
    pub max: f64,
}

/// The next interval, seconds (before jitter):
/// - after `failures` consecutive failures: the base interval doubled per failure, up to the
///   ceiling (a failing feed is retried forever at the ceiling);
/// - else adaptive: halved after a poll that brought new items, 1.5× after one that did not,
///   within the bounds;
/// - never sooner than what the server or the feed asked (`hint`), within the ceiling.
pub fn next_interval(
    current: f64,
    base: f64,
    b: Bounds,
    new_items: usize,
    failures: u32,
    hint: Option<u64>,
) -> f64 {
    let mut next = if failures > 0 {
        (base * 2f64.powi(failures.min(16) as i32)).min(b.max)
    } else if new_items > 0 {
        current * 0.5
    } else {
        current * 1.5
    };
    next = next.clamp(b.min, b.max);
    if let Some(h) = hint {
        next = next.max((h as f64).min(b.max));
    }
    next
}

/// Moves `at` out of the feed's skipped hours and days (to the start of the next allowed
/// hour), at most one week ahead.
pub fn skip_forward(at: DateTime<Utc>, hints: &FeedHints) -> DateTime<Utc> {
    if hints.skip_hours.is_empty() && hints.skip_days.is_empty() {
        return at;
    }
    let mut t = at;
    for _ in 0..(24 * 7) {
        let skipped =
            hints.skip_hours.contains(&t.hour()) || hints.skip_days.contains(&t.weekday());
        if !skipped {
            return t;
        }
        t = (t + Duration::hours(1))
            .with_minute(0)
            .and_then(|x| x.with_second(0))
            .unwrap_or(t + Duration::hours(1));
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ttl_sy_and_skip_hints() {
        let doc = br#"<rss version="2.0" xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"><channel>
            <title>t</title><ttl>30</ttl><sy:updatePeriod>hourly</sy:updatePeriod><sy:updateFrequency>2</sy:updateFrequency>
            <skipHours><hour>0</hour><hour>1</hour></skipHours><skipDays><day>Sunday</day></skipDays>
            <item><ttl>999</ttl></item></channel></rss>"#;
        let h = feed_hints(doc);
        assert_eq!(h.ttl_secs, Some(1800));
        assert_eq!(h.update_secs, Some(1800));
        assert_eq!(h.skip_hours, [0, 1]);
        assert_eq!(h.skip_days, [Weekday::Sun]);
        assert_eq!(feed_hints(b"<feed></feed>"), FeedHints::default());
    }

    #[test]
    fn adapts_backs_off_and_honours_hints() {
        let b = Bounds {
            min: 60.0,
            max: 3600.0,
        };
        assert_eq!(
            next_interval(300.0, 300.0, b, 5, 0, None),
            150.0,
            "new items: sooner"
        );
        assert_eq!(
            next_interval(300.0, 300.0, b, 0, 0, None),
            450.0,
            "nothing new: later"
        );
        assert_eq!(
            next_interval(80.0, 300.0, b, 5, 0, None),
            60.0,
            "never under the floor"
        );
        assert_eq!(
            next_interval(3000.0, 300.0, b, 0, 0, None),
            3600.0,
            "never over the ceiling"
        );
        assert_eq!(
            next_interval(300.0, 300.0, b, 0, 3, None),
            2400.0,
            "backoff doubles per failure"
        );
        assert_eq!(
            next_interval(300.0, 300.0, b, 0, 30, None),
            3600.0,
            "and is capped"
        );
        assert_eq!(
            next_interval(300.0, 300.0, b, 5, 0, Some(1200)),
            1200.0,
            "Retry-After / max-age / ttl"
        );
        assert_eq!(
            next_interval(300.0, 300.0, b, 5, 0, Some(99_999)),
            3600.0,
            "hints within the ceiling"
        );
    }

    #[test]
    fn skips_hours_and_days() {
        let h = FeedHints {
            skip_hours: vec![0, 1],
            skip_days: vec![Weekday::Sun],
            ..Default::default()
        };
        // Sunday 2026-11-29 10:30 is skipped → Monday 02:00 (hours 0 and 1 skipped).
        let at = DateTime::parse_from_rfc3339("2026-11-29T10:30:00Z")
            .unwrap()
            .to_utc();
        let next = skip_forward(at, &h);
        assert_eq!(next.to_rfc3339(), "2026-11-30T02:00:00+00:00");
        let ok = DateTime::parse_from_rfc3339("2026-11-24T12:10:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(skip_forward(ok, &h), ok);
    }
}
