//! virsh's output formats as pure functions: tables, aligned `Key: value` lines, sizes, numbers and state words.

use crate::driver::DomainState;

/// A table laid out as virsh's lists are: a header row, a dash rule, then rows. Every column is as wide as its
/// widest cell; cells are separated by three spaces after a leading space; the last column is not padded; the rule
/// is as long as the widths plus three per column.
#[cfg(test)]
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    table_with(Some(header), rows)
}

/// [`table`], or with `header: None` (virsh's quiet mode) the rows alone, sized without the header.
pub fn table_with(header: Option<&[&str]>, rows: &[Vec<String>]) -> String {
    let columns = header.map_or_else(|| rows.first().map_or(0, Vec::len), <[&str]>::len);
    let mut widths: Vec<usize> = match header {
        Some(header) => header.iter().map(|h| h.chars().count()).collect(),
        None => vec![0; columns],
    };
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &[&str]| -> String {
        let mut out = String::from(" ");
        for (i, cell) in cells.iter().enumerate() {
            out.push_str(cell);
            if i + 1 < cells.len() {
                let pad = widths[i].saturating_sub(cell.chars().count());
                out.push_str(&" ".repeat(pad + 3));
            }
        }
        out.push('\n');
        out
    };
    let mut out = String::new();
    if let Some(header) = header {
        out.push_str(&line(header));
        let rule: usize = widths.iter().sum::<usize>() + 3 * widths.len();
        out.push_str(&"-".repeat(rule));
        out.push('\n');
    }
    for row in rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        out.push_str(&line(&cells));
    }
    out
}

/// One `Key:` line of the info commands: the key padded to `width`, a space, the value.
pub fn field(key: &str, width: usize, value: impl std::fmt::Display) -> String {
    format!("{key:<width$} {value}\n")
}

/// A byte count the way virsh prints sizes ("0.00 B", "1.46 GiB"): the largest binary unit not above the value.
pub fn pretty_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut unit = 0;
    while unit + 1 < UNITS.len() && bytes >= 1u64 << (10 * (unit + 1)) {
        unit += 1;
    }
    // Precision loss above 2^53 bytes is far below the two decimals printed.
    #[allow(clippy::cast_precision_loss)]
    let value = bytes as f64 / (1u64 << (10 * unit)) as f64;
    format!("{value:.2} {}", UNITS[unit])
}

/// Parses virsh's scaled integers ("512M", "2GiB", "1000", "10KB"): a number and an optional unit; a bare number is
/// multiplied by `default_scale`. Returns bytes, `None` when malformed or too large.
pub fn parse_scaled(text: &str, default_scale: u64) -> Option<u64> {
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    if digits_end == 0 {
        return None;
    }
    let number: u64 = text[..digits_end].parse().ok()?;
    let suffix = &text[digits_end..];
    let scale = if suffix.is_empty() {
        default_scale
    } else {
        let mut chars = suffix.chars();
        let letter = chars.next()?.to_ascii_lowercase();
        let rest: String = chars.collect();
        let base: u64 = match rest.as_str() {
            "" | "iB" | "ib" => 1024,
            "B" | "b" => 1000,
            _ => return None,
        };
        let power = match letter {
            'b' if rest.is_empty() => return Some(number),
            'k' => 1,
            'm' => 2,
            'g' => 3,
            't' => 4,
            'p' => 5,
            'e' => 6,
            _ => return None,
        };
        base.checked_pow(power)?
    };
    number.checked_mul(scale)
}

/// The words `domstate --reason` prints for a state's reason number.
pub fn state_reason(state: DomainState, reason: i32) -> &'static str {
    const RUNNING: &[&str] = &[
        "unknown",
        "booted",
        "migrated",
        "restored",
        "from snapshot",
        "unpaused",
        "migration canceled",
        "save canceled",
        "event wakeup",
        "crashed",
        "post-copy",
        "post-copy failed",
    ];
    const PAUSED: &[&str] = &[
        "unknown",
        "user",
        "migrating",
        "saving",
        "dumping",
        "I/O error",
        "watchdog",
        "from snapshot",
        "shutting down",
        "creating snapshot",
        "crashed",
        "starting up",
        "post-copy",
        "post-copy failed",
        "api error",
    ];
    const SHUTDOWN: &[&str] = &["unknown", "user"];
    const SHUTOFF: &[&str] = &[
        "unknown",
        "shutdown",
        "destroyed",
        "crashed",
        "migrated",
        "saved",
        "failed",
        "from snapshot",
        "daemon",
    ];
    const CRASHED: &[&str] = &["unknown", "panicked"];
    let words: &[&str] = match state {
        DomainState::Running => RUNNING,
        DomainState::Paused => PAUSED,
        DomainState::Shutdown => SHUTDOWN,
        DomainState::Shutoff => SHUTOFF,
        DomainState::Crashed => CRASHED,
        DomainState::NoState | DomainState::Blocked | DomainState::PmSuspended => &["unknown"],
    };
    usize::try_from(reason)
        .ok()
        .and_then(|i| words.get(i))
        .copied()
        .unwrap_or("unknown")
}

/// `virStorageVolType` as virsh names it.
pub fn vol_type_name(kind: i32) -> &'static str {
    match kind {
        0 => "file",
        1 => "block",
        2 => "dir",
        3 => "network",
        4 => "netdir",
        5 => "ploop",
        _ => "unknown",
    }
}

/// `virStoragePoolState` as virsh names it.
pub fn pool_state_name(state: i32) -> &'static str {
    match state {
        0 => "inactive",
        1 => "building",
        2 => "running",
        3 => "degraded",
        4 => "inaccessible",
        _ => "unknown",
    }
}

pub fn yes_no(value: bool) -> &'static str {
    if value {
        "yes"
    } else {
        "no"
    }
}

/// Escapes text for an XML element or attribute value.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&apos;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_match_virsh() {
        let rows = vec![vec![
            "1".to_string(),
            "test".to_string(),
            "running".to_string(),
        ]];
        assert_eq!(
            table(&["Id", "Name", "State"], &rows),
            " Id   Name   State\n----------------------\n 1    test   running\n"
        );
        assert_eq!(
            table(&["Id", "Name", "State"], &[]),
            " Id   Name   State\n--------------------\n"
        );
        let rows = vec![vec![
            "default".to_string(),
            "active".to_string(),
            "no".to_string(),
            "yes".to_string(),
        ]];
        assert_eq!(
            table(&["Name", "State", "Autostart", "Persistent"], &rows),
            " Name      State    Autostart   Persistent\n\
             --------------------------------------------\n \
             default   active   no          yes\n"
        );
    }

    #[test]
    fn quiet_tables_have_no_header() {
        let rows = vec![vec![
            "1".to_string(),
            "test".to_string(),
            "running".to_string(),
        ]];
        assert_eq!(table_with(None, &rows), " 1   test   running\n");
    }

    #[test]
    fn sizes_match_virsh() {
        assert_eq!(pretty_size(0), "0.00 B");
        assert_eq!(pretty_size(1000), "1000.00 B");
        assert_eq!(pretty_size(10 * 1024 * 1024), "10.00 MiB");
        assert_eq!(pretty_size(1500 * 1024 * 1024), "1.46 GiB");
        assert_eq!(pretty_size(100 << 30), "100.00 GiB");
        assert_eq!(pretty_size((1 << 30) + 10 * (1 << 20)), "1.01 GiB");
    }

    #[test]
    fn scaled_numbers() {
        assert_eq!(parse_scaled("512M", 1024), Some(512 << 20));
        assert_eq!(parse_scaled("1000", 1024), Some(1024 * 1000));
        assert_eq!(parse_scaled("1000", 1), Some(1000));
        assert_eq!(parse_scaled("2GiB", 1), Some(2 << 30));
        assert_eq!(parse_scaled("1KB", 1), Some(1000));
        assert_eq!(parse_scaled("7b", 1024), Some(7));
        assert_eq!(parse_scaled("abc", 1), None);
        assert_eq!(parse_scaled("-1", 1), None);
        assert_eq!(parse_scaled("5X", 1), None);
        assert_eq!(parse_scaled("99999999999E", 1), None);
    }

    #[test]
    fn fields_are_padded() {
        assert_eq!(field("Id:", 15, 1), "Id:             1\n");
        assert_eq!(field("Security DOI:", 15, ""), "Security DOI:   \n");
        assert_eq!(
            field("CPU model:", 20, "i686"),
            "CPU model:           i686\n"
        );
    }

    #[test]
    fn reasons() {
        assert_eq!(state_reason(DomainState::Running, 1), "booted");
        assert_eq!(state_reason(DomainState::Paused, 1), "user");
        assert_eq!(state_reason(DomainState::Shutoff, 2), "destroyed");
        assert_eq!(state_reason(DomainState::Running, 99), "unknown");
        assert_eq!(state_reason(DomainState::Running, -1), "unknown");
    }
}
