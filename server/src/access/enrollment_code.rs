//! Enrollment codes as people read, type and scan them.
//!
//! A code is 16 Crockford base32 characters (80 random bits), shown as
//! `XXXX-XXXX-XXXX-XXXX` and in a QR code: short enough to type on a phone, far too many to
//! guess within its lifetime. Only its hash is stored.

use schema::enrollment::QrPayload;

/// Characters in a code, without the hyphens.
pub const CODE_LENGTH: usize = 16;

/// Crockford's base32: no I, L, O or U, so nothing reads as another character.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A fresh code, grouped for reading: `XXXX-XXXX-XXXX-XXXX`.
pub fn generate_code() -> String {
    let mut bytes = [0u8; CODE_LENGTH * 5 / 8];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    let mut bits: u128 = 0;
    for byte in bytes {
        bits = (bits << 8) | u128::from(byte);
    }
    let plain: String = (0..CODE_LENGTH)
        .rev()
        .map(|n| char::from(ALPHABET[((bits >> (n * 5)) & 31) as usize]))
        .collect();
    group(&plain)
}

fn group(plain: &str) -> String {
    plain
        .as_bytes()
        .chunks(4)
        .map(|chunk| std::str::from_utf8(chunk).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("-")
}

/// A code as typed, in its canonical form (16 characters, no hyphens), or `None` when it
/// cannot be one. Case, spaces and hyphens do not matter, and the letters people confuse
/// with digits (O, I, L) read as those digits, as Crockford intends.
pub fn normalize_code(input: &str) -> Option<String> {
    let mut code = String::with_capacity(CODE_LENGTH);
    for c in input.chars() {
        let c = match c.to_ascii_uppercase() {
            '-' | ' ' => continue,
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        };
        if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) {
            return None;
        }
        code.push(c);
    }
    (code.len() == CODE_LENGTH).then_some(code)
}

/// The grouped form of a canonical code.
pub fn display_code(canonical: &str) -> String {
    group(canonical)
}

pub(super) fn code_hash(canonical: &str) -> String {
    blake3::hash(canonical.as_bytes()).to_hex().to_string()
}

/// What a QR code carries: `doorstep:enroll?server=<url>&code=<code>`, so one scan sets
/// up the phone; or the bare code when the server's address is not known.
pub fn payload(server: Option<&str>, code: &str) -> String {
    QrPayload {
        server: server.map(str::to_owned),
        code: code.to_owned(),
    }
    .encode()
}

fn qr(payload: &str) -> qrcode::QrCode {
    // Medium error correction survives a scuffed print-out; the payload is short, so the
    // symbol stays small. A server address too long for a QR code leaves the bare code,
    // which always fits: the phone then asks for the address.
    let encode = |text: &str| {
        qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M)
    };
    encode(payload).unwrap_or_else(|_| {
        let code = payload.rsplit("code=").next().unwrap_or(payload);
        encode(code).unwrap_or_else(|_| {
            qrcode::QrCode::new(b"doorstep").unwrap_or_else(|_| unreachable!("8 bytes fit"))
        })
    })
}

/// The payload as an SVG QR code.
pub fn qr_svg(payload: &str) -> String {
    qr(payload)
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(256, 256)
        .build()
}

/// The payload as a PNG QR code.
pub fn qr_png(payload: &str) -> Vec<u8> {
    let image = qr(payload)
        .render::<image::Luma<u8>>()
        .min_dimensions(256, 256)
        .build();
    let mut png = Vec::new();
    image
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("encoding a PNG in memory cannot fail");
    png
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn test_a_code_is_sixteen_crockford_characters_in_four_groups() {
        let code = generate_code();
        assert_eq!(code.len(), 19, "{code}");
        let groups: Vec<&str> = code.split('-').collect();
        assert_eq!(groups.len(), 4, "{code}");
        assert!(groups.iter().all(|g| g.len() == 4), "{code}");
        let canonical = normalize_code(&code).unwrap();
        assert_eq!(canonical.len(), CODE_LENGTH);
        assert!(canonical.bytes().all(|b| ALPHABET.contains(&b)), "{code}");
        assert_eq!(display_code(&canonical), code);
    }

    #[test]
    fn test_codes_do_not_repeat_and_use_every_character() {
        let codes: std::collections::HashSet<String> = (0..2000).map(|_| generate_code()).collect();
        assert_eq!(codes.len(), 2000);
        // 80 random bits spread over the whole alphabet: a code generator stuck on part of
        // it (a shifted bit, a short alphabet) shows here.
        let seen: std::collections::HashSet<u8> = codes
            .iter()
            .flat_map(|c| c.bytes().filter(|b| *b != b'-').collect::<Vec<_>>())
            .collect();
        assert_eq!(seen.len(), 32);
    }

    #[test]
    fn test_a_typed_code_is_read_as_people_type_it() {
        let canonical = "0123456789ABCDEF";
        for typed in [
            "0123-4567-89AB-CDEF",
            "0123 4567 89ab cdef",
            "o123-4567-89AB-CDEF",
            " 0I23456789abcdef ",
            "0L23-4567-89AB-CDEF",
        ] {
            assert_eq!(normalize_code(typed).as_deref(), Some(canonical), "{typed}");
        }
        for wrong in [
            "",
            "0123-4567-89AB-CDE",
            "0123-4567-89AB-CDEF0",
            "0123-4567-89AB-CDEU",
            "0123-4567-89AB-CDE!",
            "０123-4567-89AB-CDEF",
        ] {
            assert_eq!(normalize_code(wrong), None, "{wrong}");
        }
    }

    #[test]
    fn test_only_the_hash_of_the_canonical_code_is_compared() {
        let a = normalize_code("abcd-efgh-jkmn-pqrs").unwrap();
        let b = normalize_code("ABCDEFGHJKMNPQRS").unwrap();
        assert_eq!(code_hash(&a), code_hash(&b));
        assert!(!code_hash(&a).contains("ABCD"));
    }

    #[test]
    fn test_the_payload_names_the_server_when_it_is_known() {
        let code = "ABCD-EFGH-JKMN-PQRS";
        assert_eq!(payload(None, code), code);
        assert_eq!(payload(Some("  "), code), code);
        assert_eq!(
            payload(Some("https://county.example:8443/doorstep/"), code),
            "doorstep:enroll?server=https%3A%2F%2Fcounty.example%3A8443%2Fdoorstep&code=ABCD-EFGH-JKMN-PQRS"
        );
    }

    #[test]
    fn test_the_qr_code_renders_as_svg_and_png() {
        let text = payload(Some("http://127.0.0.1:8080"), &generate_code());
        let svg = qr_svg(&text);
        assert!(svg.starts_with("<?xml") && svg.contains("<svg"), "{svg}");
        let png = qr_png(&text);
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let decoded = image::load_from_memory_with_format(&png, image::ImageFormat::Png).unwrap();
        assert!(decoded.width() >= 256 && decoded.height() >= 256);
    }

    #[test]
    fn test_a_server_address_too_long_for_a_qr_code_leaves_the_bare_code() {
        let code = generate_code();
        let text = payload(
            Some(&format!("https://{}.example", "a".repeat(5000))),
            &code,
        );
        let svg = qr_svg(&text);
        assert!(svg.starts_with("<?xml"), "{svg}");
        assert!(!qr_png(&text).is_empty());
    }
}
