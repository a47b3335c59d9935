//! Compact JSON written exactly as Python's `json.dumps(obj, separators=(",", ":"))`
//! writes it, which is what Twilio's Python helper signs.
//!
//! That means: no white space, every character outside printable ASCII escaped as
//! `\uXXXX` with lower-case hex (a surrogate pair above U+FFFF), the short escapes
//! `\" \\ \n \r \t \b \f`, `/` left alone, and floats in Python's `repr` form
//! (`1.0`, `1e+16`, `1.5e-05`). Object keys keep their insertion order.

use serde_json::{Map, Value};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Whether a byte is written as it is: printable ASCII other than `"` and `\`.
const fn is_plain(b: u8) -> bool {
    matches!(b, 0x20..=0x7e) && b != b'"' && b != b'\\'
}

/// `s` as it is written between a JSON string's quotes: itself when nothing needs an
/// escape.
pub(crate) fn escaped(s: &str) -> std::borrow::Cow<'_, str> {
    if s.bytes().all(is_plain) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = Vec::with_capacity(s.len() + 8);
    write_str(&mut out, s);
    // `write_str` writes ASCII only, between two quotes.
    let inner = out.get(1..out.len() - 1).unwrap_or_default();
    std::borrow::Cow::Owned(String::from_utf8_lossy(inner).into_owned())
}

/// Appends `s` as a quoted JSON string.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    // Most values (SIDs, plain identities) need no escape: one copy.
    if bytes.iter().all(|&b| is_plain(b)) {
        out.reserve(bytes.len() + 2);
        out.push(b'"');
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    out.push(b'"');
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if is_plain(b) {
            continue;
        }
        if b >= 0x80 {
            // Part of a multi-byte character: handled when its first byte is seen.
            if b < 0xC0 {
                continue;
            }
        }
        out.extend_from_slice(&bytes[start..i]);
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => {
                // A control character, DEL, or the first byte of a non-ASCII character.
                let c = s[i..].chars().next().map_or(0, u32::from);
                if c > 0xFFFF {
                    let v = c - 0x1_0000;
                    write_u16_escape(out, 0xD800 | (v >> 10));
                    write_u16_escape(out, 0xDC00 | (v & 0x3FF));
                } else {
                    write_u16_escape(out, c);
                }
                start = i + s[i..].chars().next().map_or(1, char::len_utf8);
                continue;
            }
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

fn write_u16_escape(out: &mut Vec<u8>, unit: u32) {
    out.extend_from_slice(&[
        b'\\',
        b'u',
        HEX[(unit >> 12 & 0xF) as usize],
        HEX[(unit >> 8 & 0xF) as usize],
        HEX[(unit >> 4 & 0xF) as usize],
        HEX[(unit & 0xF) as usize],
    ]);
}

/// Appends an unsigned integer.
pub(crate) fn write_u64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Appends any JSON value, objects in their insertion order.
pub(crate) fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                write_u64(out, u);
            } else if let Some(i) = n.as_i64() {
                out.push(b'-');
                write_u64(out, i.unsigned_abs());
            } else if let Some(f) = n.as_f64() {
                out.extend_from_slice(python_float_repr(f).as_bytes());
            }
        }
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        Value::Object(map) => write_map(out, map),
    }
}

/// Appends a JSON object, keys in their insertion order.
pub(crate) fn write_map(out: &mut Vec<u8>, map: &Map<String, Value>) {
    out.push(b'{');
    for (i, (k, v)) in map.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, k);
        out.push(b':');
        write_value(out, v);
    }
    out.push(b'}');
}

/// Python's `repr(float)`: the shortest round-tripping digits, in fixed notation when
/// the decimal exponent is in -4..16, otherwise as `d.ddde+XX`.
fn python_float_repr(f: f64) -> String {
    // `{:e}` gives the shortest round-tripping digits as `[-]d[.ddd]e[-]N`.
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let decpt = exp + 1;
    if !(-4 < decpt && decpt <= 16) {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { "" } else { "." };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{dot}{rest}e{esign}{:02}", exp.unsigned_abs());
    }
    let n = digits.len() as i32;
    if decpt <= 0 {
        format!("{sign}0.{}{digits}", "0".repeat((-decpt) as usize))
    } else if decpt < n {
        let (int, frac) = digits.split_at(decpt as usize);
        format!("{sign}{int}.{frac}")
    } else {
        format!("{sign}{digits}{}.0", "0".repeat((decpt - n) as usize))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> String {
        let mut out = Vec::new();
        write_str(&mut out, text);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escapes_like_python() {
        assert_eq!(s("alice"), r#""alice""#);
        assert_eq!(s("a\"b\\c/d"), r#""a\"b\\c/d""#);
        assert_eq!(
            s("\n\r\t\u{8}\u{c}\u{1}\u{7f}"),
            r#""\n\r\t\b\f\u0001\u007f""#
        );
        assert_eq!(s("zoë"), r#""zo\u00eb""#);
        assert_eq!(s("日本"), r#""\u65e5\u672c""#);
        assert_eq!(s("🦀x"), r#""\ud83e\udd80x""#);
        assert_eq!(s(""), r#""""#);
    }

    #[test]
    fn floats_like_python_repr() {
        let cases = [
            (1.0, "1.0"),
            (0.5, "0.5"),
            (-2.25, "-2.25"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (1e15, "1000000000000000.0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (123.456, "123.456"),
            (-0.0, "-0.0"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1.2345678901234568e17, "1.2345678901234568e+17"),
            (1e300, "1e+300"),
        ];
        for (f, want) in cases {
            assert_eq!(python_float_repr(f), want, "{f}");
        }
    }

    #[test]
    fn values_keep_order() {
        let v: Value = serde_json::from_str(r#"{"z":1,"a":[true,null,-3,"x"],"m":{}}"#).unwrap();
        let mut out = Vec::new();
        write_value(&mut out, &v);
        assert_eq!(out, br#"{"z":1,"a":[true,null,-3,"x"],"m":{}}"#);
    }
}
