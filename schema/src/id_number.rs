//! The resident ID number (GB 11643-1999): parsed once at the boundary, then trusted.
//!
//! An [`IdNumber`] always holds 18 characters whose province code exists, whose birth date
//! is real and whose check character is right, so sex, birth date and age can be read from it
//! without further checks.
//!
//! What a person types is normalised first, the same way on the phone and on the server
//! (both parse here): spaces and hyphens between groups of digits are left out, and full-width
//! digits and `Ｘ` (a Chinese input method's) read as ASCII. Anything else is refused with the
//! character and its place named.

use crate::message::Message;
use jiff::civil::Date;
use serde::Serialize;
use std::fmt;

/// The earliest birth date accepted.
///
/// Not 1900: the standard's own example `440524188001010014` was born in 1880, and the first
/// cards (1984) went to people born as early as the 1860s. The bound only catches typos such
/// as `0949` for `1949`.
pub const EARLIEST_BIRTH_DATE: Date = Date::constant(1850, 1, 1);

/// Weights of the first 17 digits in the check sum, from GB 11643-1999.
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];

/// The check character for each value of the weighted sum mod 11.
const CHECK_CHARACTERS: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

/// The first two digits a number may start with: the province-level codes of GB/T 2260.
///
/// 11–15 North, 21–23 North-east, 31–37 East, 41–46 Central-south, 50–54 South-west,
/// 61–65 North-west; 71 Taiwan, 81 Hong Kong, 82 Macao (in GB/T 2260 though no mainland
/// office issues under them, they head the residence permits of those regions' residents,
/// which carry a number of this same form); 83 heads the residence permits of Taiwan
/// residents. Only the six-digit county code is ever retired; the province's two digits have
/// not changed since the first cards (1984): a number issued in Sichuan before Chongqing
/// (50) was split off keeps 51, one from Hainan before 1988 keeps Guangdong's 44, and both
/// are here. So this check refuses no number ever issued, only typos such as `00` or `99`.
pub const PROVINCE_CODES: [&str; 35] = [
    "11", "12", "13", "14", "15", // 北京 天津 河北 山西 内蒙古
    "21", "22", "23", // 辽宁 吉林 黑龙江
    "31", "32", "33", "34", "35", "36",
    "37", // 上海 江苏 浙江 安徽 福建 江西 山东
    "41", "42", "43", "44", "45", "46", // 河南 湖北 湖南 广东 广西 海南
    "50", "51", "52", "53", "54", // 重庆 四川 贵州 云南 西藏
    "61", "62", "63", "64", "65", // 陕西 甘肃 青海 宁夏 新疆
    "71", "81", "82", "83", // 台湾 香港 澳门, 台湾居民居住证
];

/// Hyphens left out of a typed number, besides whitespace: people group the digits as
/// `110105 19491231 002X` or `110105-19491231-002X`, and a phone keyboard or a copied document
/// may give a full-width hyphen, a typographic hyphen, a dash or a minus sign.
const HYPHENS: [char; 7] = [
    '-', '\u{FF0D}', '\u{2010}', '\u{2011}', '\u{2012}', '\u{2013}', '\u{2212}',
];

/// A person's sex as recorded in the ledger (GB/T 2261.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Sex {
    Male,
    Female,
}

impl Sex {
    /// The GB/T 2261.1 code: `"1"` for male, `"2"` for female.
    pub fn code(self) -> &'static str {
        match self {
            Sex::Male => "1",
            Sex::Female => "2",
        }
    }

    /// The sex for a GB/T 2261.1 code; `None` for any other code, including `"0"` (unknown)
    /// and `"9"` (unspecified), which the ledger does not record.
    pub fn from_code(code: &str) -> Option<Sex> {
        match code {
            "1" => Some(Sex::Male),
            "2" => Some(Sex::Female),
            _ => None,
        }
    }

    /// The name shown to a user.
    pub fn label(self) -> Message {
        match self {
            Sex::Male => Message::new("男", "Male"),
            Sex::Female => Message::new("女", "Female"),
        }
    }
}

/// A valid 18-character resident ID number, with any check character `X` in upper case.
///
/// The only way to get one is [`IdNumber::parse`]. Serializes as the plain 18-character string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct IdNumber(String);

impl IdNumber {
    /// Parses what a person typed.
    ///
    /// Whitespace (including the full-width space) and hyphens are left out wherever they
    /// are; full-width digits and `Ｘ`/`ｘ` read as their ASCII
    /// forms, and a lowercase `x` is stored as `X`. A legacy 15-digit number is upgraded to 18
    /// characters: `19` goes before its 2-digit year and the check character is computed. The
    /// first two digits must be a province code ([`PROVINCE_CODES`]). The birth date must be
    /// a real date, not before [`EARLIEST_BIRTH_DATE`] and not after `today`; `today` is
    /// passed in because this crate never reads a clock.
    pub fn parse(input: &str, today: Date) -> Result<IdNumber, IdNumberError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(IdNumberError::Empty);
        }
        let chars = normalised_characters(input);
        // A stray character is named before the length is counted: `110105/19491231/002X`
        // is a slash too many, not a number of 20 characters.
        if let Some((index, &character)) = chars.iter().enumerate().find(|(_, character)| {
            !character.is_ascii_digit() && !character.eq_ignore_ascii_case(&'x')
        }) {
            return Err(IdNumberError::InvalidCharacter {
                position: index + 1,
                character,
            });
        }
        let digits = match chars.len() {
            18 => full_form_digits(&chars)?,
            15 => legacy_form_digits(&chars)?,
            length => return Err(IdNumberError::WrongLength { length }),
        };

        let mut first17 = [0u8; 17];
        first17.copy_from_slice(&digits[..17]);
        let number: String = first17.iter().map(|&d| char::from(b'0' + d)).collect();

        let province = &number[..2];
        if !PROVINCE_CODES.contains(&province) {
            return Err(IdNumberError::UnknownProvince {
                code: province.to_string(),
            });
        }
        let birth_date = parse_birth_date(&number[6..14])?;
        if birth_date < EARLIEST_BIRTH_DATE {
            return Err(IdNumberError::BirthDateTooOld {
                date: number[6..14].to_string(),
            });
        }
        if birth_date > today {
            return Err(IdNumberError::BirthDateInFuture {
                date: number[6..14].to_string(),
            });
        }

        let expected = check_character(&first17);
        let found = match chars.len() {
            18 => chars[17].to_ascii_uppercase(),
            _ => expected,
        };
        if found != expected {
            return Err(IdNumberError::WrongCheckCharacter { expected, found });
        }

        let mut number = number;
        number.push(expected);
        Ok(IdNumber(number))
    }

    /// The 18 characters.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 6-digit address code of the county where the number was first issued.
    ///
    /// It never changes when the person moves or the county is renamed, so it is never checked
    /// against a list of current codes: retired codes are as valid as live ones.
    pub fn address_code(&self) -> &str {
        &self.0[..6]
    }

    /// The birth date encoded in digits 7 to 14.
    pub fn birth_date(&self) -> Date {
        parse_birth_date(&self.0[6..14]).expect("an IdNumber only holds a real birth date")
    }

    /// The sex encoded in the 17th digit: odd is male, even is female.
    pub fn sex(&self) -> Sex {
        let digit = self.0.as_bytes()[16] - b'0';
        if digit % 2 == 1 {
            Sex::Male
        } else {
            Sex::Female
        }
    }

    /// Whole years completed on `on` (周岁): the age goes up on the birthday itself.
    ///
    /// Someone born on 29 February gains a year on 1 March in common years. Before the birth
    /// date the result is negative.
    pub fn age_on(&self, on: Date) -> i32 {
        let birth = self.birth_date();
        let years = i32::from(on.year()) - i32::from(birth.year());
        if (on.month(), on.day()) < (birth.month(), birth.day()) {
            years - 1
        } else {
            years
        }
    }

    /// The number as shown where it must not be read in full: the first 4 and last 4
    /// characters kept, the 10 between them as `*`, e.g. `1101**********002X`.
    pub fn masked(&self) -> String {
        format!("{}{}{}", &self.0[..4], "*".repeat(10), &self.0[14..])
    }
}

impl fmt::Display for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether the input, read as [`IdNumber::parse`] reads it, is a legacy 15-digit number,
/// which `parse` upgrades; the form can use this to tell the person their number was
/// converted.
pub fn is_legacy_form(input: &str) -> bool {
    let chars = normalised_characters(input.trim());
    chars.len() == 15 && chars.iter().all(char::is_ascii_digit)
}

/// Typed text as [`IdNumber::parse`] reads it, valid or not: trimmed, without whitespace and
/// hyphens, full-width digits and `Ｘ` as ASCII, `x` upper-cased. For code that compares
/// numbers as recorded, including wrong ones (the server's lookup hash), so that every way of
/// typing one number compares equal.
pub fn normalised_text(input: &str) -> String {
    normalised_characters(input.trim())
        .into_iter()
        .collect::<String>()
        .to_uppercase()
}

/// The characters of a typed number without its separators, full-width digits and `Ｘ`/`ｘ`
/// as ASCII. Every other character is kept as it is, for the parser to name.
fn normalised_characters(input: &str) -> Vec<char> {
    input
        .chars()
        .filter(|character| !character.is_whitespace() && !HYPHENS.contains(character))
        .map(|character| match character {
            '\u{FF10}'..='\u{FF19}' => char::from(b'0' + (u32::from(character) - 0xFF10) as u8),
            '\u{FF38}' => 'X',
            '\u{FF58}' => 'x',
            other => other,
        })
        .collect()
}

/// The check character for the first 17 digits, given as values 0 to 9.
///
/// The weighted sum `S` (weights `7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2`) is taken mod 11 and
/// mapped `0→1, 1→0, 2→X, 3→9, 4→8, 5→7, 6→6, 7→5, 8→4, 9→3, 10→2`.
pub fn check_character(first17: &[u8; 17]) -> char {
    let sum: u32 = first17
        .iter()
        .zip(WEIGHTS)
        .map(|(&digit, weight)| u32::from(digit) * weight)
        .sum();
    CHECK_CHARACTERS[(sum % 11) as usize]
}

/// Why typed text is not a valid resident ID number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message().en)]
pub enum IdNumberError {
    /// Nothing but whitespace was typed.
    Empty,
    /// Neither 18 characters nor the legacy 15; `length` counts characters, not bytes, and
    /// not the spaces and hyphens left out.
    WrongLength { length: usize },
    /// A character that is not a digit, or an `X` anywhere but the 18th place.
    /// `position` is 1-based, counted in the number without its spaces and hyphens, so it
    /// is the place in the ID number itself.
    InvalidCharacter { position: usize, character: char },
    /// The first two digits are no province code of [`PROVINCE_CODES`].
    UnknownProvince { code: String },
    /// The 8-digit birth date (`YYYYMMDD`) is not a real date, such as `19490230`.
    InvalidBirthDate { date: String },
    /// The 8-digit birth date is after today.
    BirthDateInFuture { date: String },
    /// The 8-digit birth date is before [`EARLIEST_BIRTH_DATE`].
    BirthDateTooOld { date: String },
    /// The 18th character does not match the first 17 digits.
    WrongCheckCharacter { expected: char, found: char },
}

impl IdNumberError {
    /// The message to show the person who typed the number, naming what is wrong.
    pub fn message(&self) -> Message {
        match self {
            IdNumberError::Empty => Message::new("身份证号码不能为空", "The ID number is empty"),
            IdNumberError::WrongLength { length } => Message::new(
                format!("身份证号码应为18位（或旧式15位），实际为 {length} 位"),
                format!(
                    "The ID number must have 18 characters (or 15 in the old form), \
                     but it has {length}"
                ),
            ),
            IdNumberError::InvalidCharacter {
                position,
                character,
            } if character.eq_ignore_ascii_case(&'x') => Message::new(
                format!("身份证号码第 {position} 位不能是 {character}：X 只能出现在第18位"),
                format!(
                    "The ID number cannot have {character} at position {position}: \
                     X may only be the 18th character"
                ),
            ),
            IdNumberError::InvalidCharacter {
                position,
                character,
            } => Message::new(
                format!(
                    "身份证号码第 {position} 位“{character}”不是数字：\
                     只能填数字，末位可为 X，空格和连字符可以省略"
                ),
                format!(
                    "The ID number has “{character}” at position {position}, \
                     where only a digit is allowed (the last may be X; spaces and hyphens \
                     are left out)"
                ),
            ),
            IdNumberError::UnknownProvince { code } => Message::new(
                format!("身份证号码前两位“{code}”不是省级行政区划代码，请核对号码"),
                format!(
                    "The ID number begins with “{code}”, which is no province code; \
                     check the number"
                ),
            ),
            IdNumberError::InvalidBirthDate { date } => Message::new(
                format!("身份证号码中的出生日期 {date} 不是真实日期"),
                format!("The birth date {date} in the ID number is not a real date"),
            ),
            IdNumberError::BirthDateInFuture { date } => Message::new(
                format!("身份证号码中的出生日期 {date} 晚于今天"),
                format!("The birth date {date} in the ID number is in the future"),
            ),
            IdNumberError::BirthDateTooOld { date } => Message::new(
                format!(
                    "身份证号码中的出生日期 {date} 早于{}年1月1日",
                    EARLIEST_BIRTH_DATE.year()
                ),
                format!(
                    "The birth date {date} in the ID number is before 1 January {}",
                    EARLIEST_BIRTH_DATE.year()
                ),
            ),
            IdNumberError::WrongCheckCharacter { expected, found } => Message::new(
                format!("身份证号码校验位错误：应为 {expected}，实为 {found}"),
                format!(
                    "Wrong check character in the ID number: expected {expected}, found {found}"
                ),
            ),
        }
    }
}

/// The 18 values of an 18-character number: digits, with `X` (or `x`) as 10 in the last place.
fn full_form_digits(chars: &[char]) -> Result<Vec<u8>, IdNumberError> {
    chars
        .iter()
        .enumerate()
        .map(|(index, &character)| match character.to_digit(10) {
            Some(digit) => Ok(digit as u8),
            None if index == 17 && character.eq_ignore_ascii_case(&'x') => Ok(10),
            None => Err(IdNumberError::InvalidCharacter {
                position: index + 1,
                character,
            }),
        })
        .collect()
}

/// The first 17 digits of the 18-character form of a legacy 15-digit number: `19` goes before
/// the 2-digit year, which follows the 6-digit address code.
fn legacy_form_digits(chars: &[char]) -> Result<Vec<u8>, IdNumberError> {
    let legacy = chars
        .iter()
        .enumerate()
        .map(|(index, &character)| {
            character
                .to_digit(10)
                .map(|digit| digit as u8)
                .ok_or(IdNumberError::InvalidCharacter {
                    position: index + 1,
                    character,
                })
        })
        .collect::<Result<Vec<u8>, _>>()?;
    let mut digits = Vec::with_capacity(17);
    digits.extend_from_slice(&legacy[..6]);
    digits.extend_from_slice(&[1, 9]);
    digits.extend_from_slice(&legacy[6..]);
    Ok(digits)
}

/// The date in 8 ASCII digits `YYYYMMDD`, if it is a real date.
fn parse_birth_date(yyyymmdd: &str) -> Result<Date, IdNumberError> {
    let invalid = || IdNumberError::InvalidBirthDate {
        date: yyyymmdd.to_string(),
    };
    let year: i16 = yyyymmdd[..4].parse().map_err(|_| invalid())?;
    let month: i8 = yyyymmdd[4..6].parse().map_err(|_| invalid())?;
    let day: i8 = yyyymmdd[6..8].parse().map_err(|_| invalid())?;
    Date::new(year, month, day).map_err(|_| invalid())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const TODAY: Date = Date::constant(2025, 6, 1);

    fn parse(input: &str) -> Result<IdNumber, IdNumberError> {
        IdNumber::parse(input, TODAY)
    }

    /// Completes 17 digits with their check character, so a test about the birth date is not
    /// also a test about the check character.
    fn with_check_character(first17: &str) -> String {
        let digits: Vec<u8> = first17.bytes().map(|b| b - b'0').collect();
        let first17: [u8; 17] = digits.try_into().unwrap();
        format!(
            "{}{}",
            first17
                .iter()
                .map(|d| char::from(b'0' + d))
                .collect::<String>(),
            check_character(&first17)
        )
    }

    fn assert_message_names(error: &IdNumberError, detail: &str) {
        let message = error.message();
        assert!(!message.zh.is_empty() && !message.en.is_empty());
        assert!(
            message.zh.contains(detail),
            "zh {:?} lacks {detail}",
            message.zh
        );
        assert!(
            message.en.contains(detail),
            "en {:?} lacks {detail}",
            message.en
        );
    }

    #[test]
    fn test_standard_example_with_x_check_character_is_a_woman_born_1949() {
        let id = parse("11010519491231002X").unwrap();
        assert_eq!(id.as_str(), "11010519491231002X");
        assert_eq!(id.to_string(), "11010519491231002X");
        assert_eq!(id.address_code(), "110105");
        assert_eq!(id.birth_date(), Date::constant(1949, 12, 31));
        assert_eq!(id.sex(), Sex::Female);
        assert_eq!(id.age_on(TODAY), 75);
    }

    #[test]
    fn test_standard_example_born_1880_is_a_man_and_valid() {
        let id = parse("440524188001010014").unwrap();
        assert_eq!(id.address_code(), "440524");
        assert_eq!(id.birth_date(), Date::constant(1880, 1, 1));
        assert_eq!(id.sex(), Sex::Male);
        assert_eq!(id.age_on(Date::constant(1980, 1, 1)), 100);
    }

    #[test]
    fn test_check_character_matches_the_standard_examples() {
        assert_eq!(
            check_character(&[1, 1, 0, 1, 0, 5, 1, 9, 4, 9, 1, 2, 3, 1, 0, 0, 2]),
            'X'
        );
        assert_eq!(
            check_character(&[4, 4, 0, 5, 2, 4, 1, 8, 8, 0, 0, 1, 0, 1, 0, 0, 1]),
            '4'
        );
    }

    #[test]
    fn test_surrounding_whitespace_is_trimmed() {
        let id = parse(" \t11010519491231002X\u{3000}\n").unwrap();
        assert_eq!(id.as_str(), "11010519491231002X");
    }

    #[test]
    fn test_lowercase_x_is_accepted_and_stored_uppercase() {
        let id = parse("11010519491231002x").unwrap();
        assert_eq!(id.as_str(), "11010519491231002X");
        assert_eq!(id, parse("11010519491231002X").unwrap());
    }

    #[test]
    fn test_wrong_check_digit_names_the_expected_character() {
        let error = parse("110105194912310025").unwrap_err();
        assert_eq!(
            error,
            IdNumberError::WrongCheckCharacter {
                expected: 'X',
                found: '5'
            }
        );
        let message = error.message();
        assert_eq!(message.zh, "身份证号码校验位错误：应为 X，实为 5");
        assert_eq!(
            message.en,
            "Wrong check character in the ID number: expected X, found 5"
        );
        assert_eq!(error.to_string(), message.en);
    }

    #[test]
    fn test_x_where_a_digit_check_is_expected_is_a_wrong_check_character() {
        assert_eq!(
            parse("44052418800101001x").unwrap_err(),
            IdNumberError::WrongCheckCharacter {
                expected: '4',
                found: 'X'
            }
        );
    }

    #[test]
    fn test_30_february_is_not_a_real_birth_date() {
        let error = parse(&with_check_character("11010519490230002")).unwrap_err();
        assert_eq!(
            error,
            IdNumberError::InvalidBirthDate {
                date: "19490230".to_string()
            }
        );
        assert_eq!(
            error.message().zh,
            "身份证号码中的出生日期 19490230 不是真实日期"
        );
    }

    #[test]
    fn test_month_13_and_day_zero_are_not_real_birth_dates() {
        for date in ["19491301", "19490001", "19491200"] {
            let error = parse(&with_check_character(&format!("110105{date}002"))).unwrap_err();
            assert_eq!(
                error,
                IdNumberError::InvalidBirthDate {
                    date: date.to_string()
                }
            );
        }
    }

    #[test]
    fn test_birth_on_leap_day_2000_is_valid() {
        let id = parse(&with_check_character("11010520000229001")).unwrap();
        assert_eq!(id.birth_date(), Date::constant(2000, 2, 29));
        assert_eq!(id.sex(), Sex::Male);
    }

    #[test]
    fn test_birth_on_29_february_1900_is_invalid_because_1900_was_not_a_leap_year() {
        assert_eq!(
            parse(&with_check_character("11010519000229001")).unwrap_err(),
            IdNumberError::InvalidBirthDate {
                date: "19000229".to_string()
            }
        );
    }

    #[test]
    fn test_birth_date_after_today_is_rejected() {
        let error = parse(&with_check_character("11010520250602001")).unwrap_err();
        assert_eq!(
            error,
            IdNumberError::BirthDateInFuture {
                date: "20250602".to_string()
            }
        );
    }

    #[test]
    fn test_baby_born_today_is_accepted() {
        let id = parse(&with_check_character("11010520250601002")).unwrap();
        assert_eq!(id.age_on(TODAY), 0);
    }

    #[test]
    fn test_birth_date_before_1850_is_too_old() {
        let error = parse(&with_check_character("11010518491231001")).unwrap_err();
        assert_eq!(
            error,
            IdNumberError::BirthDateTooOld {
                date: "18491231".to_string()
            }
        );
        assert!(parse(&with_check_character("11010518500101001")).is_ok());
    }

    #[test]
    fn test_typo_in_the_century_is_too_old() {
        assert_eq!(
            parse(&with_check_character("11010509491231002")).unwrap_err(),
            IdNumberError::BirthDateTooOld {
                date: "09491231".to_string()
            }
        );
    }

    #[test]
    fn test_wrong_length_counts_characters_not_bytes() {
        assert_eq!(
            parse("1101051949123100").unwrap_err(),
            IdNumberError::WrongLength { length: 16 }
        );
        assert_eq!(
            parse("11010519491231002X1").unwrap_err(),
            IdNumberError::WrongLength { length: 19 }
        );
        assert_eq!(
            parse("１１０").unwrap_err(),
            IdNumberError::WrongLength { length: 3 }
        );
        assert_eq!(
            parse("身份证").unwrap_err(),
            IdNumberError::InvalidCharacter {
                position: 1,
                character: '身'
            }
        );
        assert_eq!(
            IdNumberError::WrongLength { length: 16 }.message().zh,
            "身份证号码应为18位（或旧式15位），实际为 16 位"
        );
    }

    #[test]
    fn test_empty_or_blank_input_is_empty() {
        assert_eq!(parse("").unwrap_err(), IdNumberError::Empty);
        assert_eq!(parse("  \n").unwrap_err(), IdNumberError::Empty);
    }

    #[test]
    fn test_letter_in_the_middle_is_an_invalid_character_at_its_position() {
        assert_eq!(
            parse("1101051949A231002X").unwrap_err(),
            IdNumberError::InvalidCharacter {
                position: 11,
                character: 'A'
            }
        );
    }

    #[test]
    fn test_full_width_digits_and_x_read_as_ascii() {
        let id = parse("１１０１０５１９４９１２３１００２Ｘ").unwrap();
        assert_eq!(id.as_str(), "11010519491231002X");
        assert_eq!(parse("1101051949１231002ｘ").unwrap(), id);
    }

    #[test]
    fn test_spaces_and_hyphens_between_groups_are_left_out() {
        for typed in [
            "110105 19491231 002X",
            "110105-19491231-002x",
            "1101 0519 4912 3100 2X",
            "110105\u{3000}19491231\u{3000}002X",
            "１１０１０５－１９４９１２３１－００２Ｘ",
            "110105\u{2013}19491231\u{2212}002X",
            " 110105\t19491231\u{a0}002X ",
        ] {
            assert_eq!(
                parse(typed).unwrap().as_str(),
                "11010519491231002X",
                "{typed:?}"
            );
        }
    }

    #[test]
    fn test_legacy_number_typed_in_groups_is_upgraded() {
        let typed = "110105 491231 002";
        assert!(is_legacy_form(typed));
        assert!(is_legacy_form("１１０１０５４９１２３１００２"));
        assert_eq!(parse(typed).unwrap().as_str(), "11010519491231002X");
    }

    #[test]
    fn test_other_punctuation_is_named_with_its_place_in_the_number() {
        // The place counts the number's own characters, not the spaces left out.
        let error = parse("110105 1949.231002X").unwrap_err();
        assert_eq!(
            error,
            IdNumberError::InvalidCharacter {
                position: 11,
                character: '.'
            }
        );
        assert_message_names(&error, "11");
        assert_message_names(&error, ".");
        assert_eq!(
            parse("110105/19491231/002X").unwrap_err(),
            IdNumberError::InvalidCharacter {
                position: 7,
                character: '/'
            }
        );
        assert_eq!(
            parse("110105—19491231002X").unwrap_err(),
            IdNumberError::InvalidCharacter {
                position: 7,
                character: '—'
            }
        );
    }

    #[test]
    fn test_normalised_text_is_what_parse_reads_valid_or_not() {
        assert_eq!(
            normalised_text(" １１０１０５－１９４９１２３１ ００２ｘ "),
            "11010519491231002X"
        );
        assert_eq!(
            normalised_text("110105 19491231 0021"),
            "110105194912310021"
        );
        assert_eq!(normalised_text("1101/05"), "1101/05");
    }

    #[test]
    fn test_only_separators_is_a_number_of_no_digits() {
        assert_eq!(
            parse(" - - ").unwrap_err(),
            IdNumberError::WrongLength { length: 0 }
        );
    }

    #[test]
    fn test_wrong_length_does_not_count_the_separators() {
        assert_eq!(
            parse("110105 19491231 002").unwrap_err(),
            IdNumberError::WrongLength { length: 17 }
        );
    }

    #[test]
    fn test_a_number_must_begin_with_a_province_code() {
        for code in [
            "00", "99", "10", "16", "20", "24", "30", "38", "40", "47", "55", "60", "66", "70",
            "72", "80", "84", "90",
        ] {
            let error =
                parse(&with_check_character(&format!("{code}010519491231002"))).unwrap_err();
            assert_eq!(
                error,
                IdNumberError::UnknownProvince {
                    code: code.to_string()
                },
                "{code}"
            );
            assert_message_names(&error, code);
        }
    }

    #[test]
    fn test_every_province_code_is_accepted() {
        for code in PROVINCE_CODES {
            let id = parse(&with_check_character(&format!("{code}010519491231002"))).unwrap();
            assert_eq!(&id.address_code()[..2], code);
        }
        // Hong Kong, Macao and Taiwan residents' residence permits (830000 for Taiwan).
        assert!(parse(&with_check_character("83000019900101001")).is_ok());
    }

    #[test]
    fn test_legacy_number_with_an_unknown_province_is_refused() {
        assert_eq!(
            parse("000105491231002").unwrap_err(),
            IdNumberError::UnknownProvince {
                code: "00".to_string()
            }
        );
    }

    #[test]
    fn test_x_before_the_last_position_is_an_invalid_character() {
        let error = parse("1101051949123100X2").unwrap_err();
        assert_eq!(
            error,
            IdNumberError::InvalidCharacter {
                position: 17,
                character: 'X'
            }
        );
        assert!(error.message().en.contains("18th"));
    }

    #[test]
    fn test_legacy_15_digit_number_is_upgraded_to_18_with_its_check_character() {
        let input = "110105491231002";
        assert!(is_legacy_form(input));
        let id = parse(input).unwrap();
        assert_eq!(id.as_str(), "11010519491231002X");
        assert_eq!(id.birth_date(), Date::constant(1949, 12, 31));
        assert_eq!(id.sex(), Sex::Female);
        assert_eq!(parse(id.as_str()).unwrap(), id);
    }

    #[test]
    fn test_upgraded_legacy_number_round_trips_through_parse() {
        // Weighted sum of 44052419800101001 is 196, and 196 mod 11 = 9 maps to 3.
        let id = parse(" 440524800101001 ").unwrap();
        assert_eq!(id.as_str(), "440524198001010013");
        assert!(!is_legacy_form(id.as_str()));
        assert_eq!(parse(id.as_str()).unwrap(), id);
    }

    #[test]
    fn test_legacy_number_with_an_impossible_date_is_rejected() {
        assert_eq!(
            parse("110105490230002").unwrap_err(),
            IdNumberError::InvalidBirthDate {
                date: "19490230".to_string()
            }
        );
    }

    #[test]
    fn test_legacy_number_with_a_letter_is_an_invalid_character() {
        assert_eq!(
            parse("11010549123100x").unwrap_err(),
            IdNumberError::InvalidCharacter {
                position: 15,
                character: 'x'
            }
        );
    }

    #[test]
    fn test_masked_keeps_first_four_and_last_four() {
        let id = parse("11010519491231002X").unwrap();
        assert_eq!(id.masked(), "1101**********002X");
    }

    #[test]
    fn test_age_goes_up_on_the_birthday_not_the_day_before() {
        let id = parse("11010519491231002X").unwrap();
        assert_eq!(id.age_on(Date::constant(2024, 12, 30)), 74);
        assert_eq!(id.age_on(Date::constant(2024, 12, 31)), 75);
        assert_eq!(id.age_on(Date::constant(1949, 12, 31)), 0);
        assert_eq!(id.age_on(Date::constant(1949, 12, 30)), -1);
    }

    #[test]
    fn test_leap_day_birthday_gains_a_year_on_1_march_in_common_years() {
        let id = parse(&with_check_character("11010520000229001")).unwrap();
        assert_eq!(id.age_on(Date::constant(2001, 2, 28)), 0);
        assert_eq!(id.age_on(Date::constant(2001, 3, 1)), 1);
        assert_eq!(id.age_on(Date::constant(2004, 2, 29)), 4);
    }

    #[test]
    fn test_is_legacy_form_only_for_15_digits() {
        assert!(is_legacy_form(" 110105491231002\n"));
        assert!(!is_legacy_form("11010549123100X"));
        assert!(!is_legacy_form("11010519491231002X"));
        assert!(!is_legacy_form(""));
    }

    #[test]
    fn test_serializes_as_the_plain_string() {
        let id = parse("11010519491231002x").unwrap();
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            "\"11010519491231002X\""
        );
    }

    #[test]
    fn test_sex_codes_round_trip_and_labels_are_bilingual() {
        for sex in [Sex::Male, Sex::Female] {
            assert_eq!(Sex::from_code(sex.code()), Some(sex));
        }
        assert_eq!(Sex::Male.code(), "1");
        assert_eq!(Sex::Female.code(), "2");
        assert_eq!(Sex::from_code("0"), None);
        assert_eq!(Sex::from_code("9"), None);
        assert_eq!(Sex::Male.label(), Message::new("男", "Male"));
        assert_eq!(Sex::Female.label(), Message::new("女", "Female"));
    }

    #[test]
    fn test_every_error_message_names_its_detail_in_both_languages() {
        let cases = [
            (IdNumberError::WrongLength { length: 16 }, "16"),
            (
                IdNumberError::InvalidCharacter {
                    position: 11,
                    character: 'A',
                },
                "11",
            ),
            (
                IdNumberError::InvalidCharacter {
                    position: 11,
                    character: 'A',
                },
                "A",
            ),
            (
                IdNumberError::InvalidCharacter {
                    position: 9,
                    character: 'X',
                },
                "9",
            ),
            (
                IdNumberError::InvalidBirthDate {
                    date: "19490230".to_string(),
                },
                "19490230",
            ),
            (
                IdNumberError::BirthDateInFuture {
                    date: "20300101".to_string(),
                },
                "20300101",
            ),
            (
                IdNumberError::BirthDateTooOld {
                    date: "18491231".to_string(),
                },
                "18491231",
            ),
            (
                IdNumberError::BirthDateTooOld {
                    date: "18491231".to_string(),
                },
                "1850",
            ),
            (
                IdNumberError::UnknownProvince {
                    code: "99".to_string(),
                },
                "99",
            ),
            (
                IdNumberError::WrongCheckCharacter {
                    expected: 'X',
                    found: '5',
                },
                "X",
            ),
            (
                IdNumberError::WrongCheckCharacter {
                    expected: 'X',
                    found: '5',
                },
                "5",
            ),
        ];
        for (error, detail) in &cases {
            assert_message_names(error, detail);
            assert_eq!(error.to_string(), error.message().en);
        }
        let empty = IdNumberError::Empty.message();
        assert!(!empty.zh.is_empty() && !empty.en.is_empty());
    }
}
