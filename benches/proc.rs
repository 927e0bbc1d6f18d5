//! Process figures shared by the benchmark harnesses.

/// A memory figure of this process from `/proc/self/status` (`field` such as `"VmHWM:"`, the
/// peak resident set, or `"VmRSS:"`), in MiB; 0 where it cannot be read.
pub fn rss_mb(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}
