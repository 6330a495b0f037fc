//! docs/api.md's mapping rules: which Slack members are synced, and what of their profile
//! becomes which user field. Pure functions; a value that breaks a rule is dropped
//! (never an error), so one odd profile cannot stop a run.

use std::collections::HashMap;

use serde_json::Value;
use shared::platform::input::rules as fields;

use crate::slack::Member;

/// Custom profile fields (`profile.fields.<id>.value`) of the club's workspace.
pub const FIELD_GITHUB: &str = "Xf01UD0C7526";
pub const FIELD_GENERATION: &str = "Xf02CN9EEQCD";
pub const FIELD_POSITIONS: &str = "Xf01UD0AM3S6";

/// Slack's own bot, listed like a member.
const SLACKBOT: &str = "USLACKBOT";

/// Other names members write for a position, and the position they mean.
const ALIASES: &[(&str, &str)] = &[
    ("fe", "프론트엔드"),
    ("frontend", "프론트엔드"),
    ("front-end", "프론트엔드"),
    ("프론트", "프론트엔드"),
    ("be", "백엔드"),
    ("backend", "백엔드"),
    ("back-end", "백엔드"),
    ("server", "백엔드"),
    ("서버", "백엔드"),
    ("android", "안드로이드"),
    ("aos", "안드로이드"),
    ("design", "디자이너"),
    ("designer", "디자이너"),
    ("디자인", "디자이너"),
];

/// Positions only admins give (the organising team): never taken from Slack.
const NOT_FROM_SLACK: &[&str] = &["운영팀"];

/// Why a member is not synced, or `None` to sync them.
pub fn skip_reason(member: &Member) -> Option<&'static str> {
    if member.deleted {
        Some("deleted")
    } else if member.id == SLACKBOT {
        Some("slackbot")
    } else if member.is_bot {
        Some("bot")
    } else if member.is_email_confirmed != Some(true) {
        Some("email not confirmed")
    } else {
        None
    }
}

/// The positions that exist, to match Slack's free text against.
#[derive(Debug, Clone, Default)]
pub struct Positions {
    /// Lower-cased name → the name as stored.
    by_lower: HashMap<String, String>,
}

impl Positions {
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        Self {
            by_lower: names
                .into_iter()
                .map(|name| (name.to_lowercase(), name.to_owned()))
                .collect(),
        }
    }

    /// The stored name `written` means: itself (any case), or through an alias.
    pub fn resolve(&self, written: &str) -> Option<&str> {
        let lower = written.to_lowercase();
        let name = self.by_lower.get(&lower).or_else(|| {
            let (_, canonical) = ALIASES.iter().find(|(alias, _)| *alias == lower)?;
            self.by_lower.get(&canonical.to_lowercase())
        })?;
        (!NOT_FROM_SLACK.contains(&name.as_str())).then_some(name.as_str())
    }
}

/// What Slack says about a member, already obeying the user fields' rules. `None`
/// (or an empty list) where Slack has nothing usable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mapped {
    pub slack_id: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub slack_email: Option<String>,
    pub image_url: Option<String>,
    pub phone_number: Option<String>,
    pub github_id: Option<String>,
    pub generation: Option<String>,
    /// Existing positions, as stored, without duplicates.
    pub positions: Vec<String>,
    /// Position names that match no position (counted, then ignored).
    pub unknown_positions: Vec<String>,
}

/// Maps a `users.profile.get` profile.
pub fn map_profile(slack_id: &str, profile: &Value, positions: &Positions) -> Mapped {
    let text = |key: &str| {
        profile
            .get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let custom = |id: &str| {
        profile
            .get("fields")
            .and_then(|fields| fields.get(id))
            .and_then(|field| field.get("value"))
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let (matched, unknown) = custom(FIELD_POSITIONS)
        .map(|value| split_positions(value, positions))
        .unwrap_or_default();
    Mapped {
        slack_id: slack_id.to_owned(),
        first_name: text("first_name").and_then(|v| fields::name(v, 1, 30).ok()),
        last_name: text("last_name").and_then(|v| fields::name(v, 1, 30).ok()),
        slack_email: text("email").and_then(|v| fields::email(v).ok()),
        image_url: text("image_192").and_then(|v| fields::http_url(v, 200).ok()),
        phone_number: text("phone").and_then(phone),
        github_id: custom(FIELD_GITHUB).and_then(github_login),
        generation: custom(FIELD_GENERATION)
            .filter(|v| fields::is_generation(v))
            .map(str::to_owned),
        positions: matched,
        unknown_positions: unknown,
    }
}

/// `-` and spaces dropped, a leading `+82` made `0`, then `^(010|011|016)[0-9]{7,8}$`.
pub fn phone(value: &str) -> Option<String> {
    fields::normalize_phone(value).filter(|digits| fields::is_mobile(digits, b"016"))
}

/// The GitHub login in a profile link: only `https` URLs; `github.com` or
/// `www.github.com` give the first path segment when it is a valid login,
/// `<name>.github.io` gives `<name>`; anything else gives none.
pub fn github_login(value: &str) -> Option<String> {
    let value = value.trim();
    let scheme_end = value.find("://")?;
    if !value[..scheme_end].eq_ignore_ascii_case("https") {
        return None;
    }
    let rest = &value[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, after) = rest.split_at(authority_end);
    if authority.contains('@') || authority.chars().any(char::is_whitespace) {
        return None;
    }
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => host,
        Some(_) => return None,
        None => authority,
    };
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    let login = if host == "github.com" || host == "www.github.com" {
        let path = after.strip_prefix('/')?;
        path.split(['/', '?', '#']).next()?
    } else {
        host.strip_suffix(".github.io")?
    };
    fields::is_github_login(login).then(|| login.to_owned())
}

/// Splits on `,` and `/`, trims, and matches each name: `(matched, unknown)`.
fn split_positions(value: &str, positions: &Positions) -> (Vec<String>, Vec<String>) {
    let mut matched: Vec<String> = Vec::new();
    let mut unknown = Vec::new();
    for written in value
        .split([',', '/'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        match positions.resolve(written) {
            Some(name) => {
                if !matched.iter().any(|m| m == name) {
                    matched.push(name.to_owned());
                }
            }
            None => unknown.push(written.to_owned()),
        }
    }
    (matched, unknown)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn seeded() -> Positions {
        Positions::new(testkit::SEEDED_POSITIONS)
    }

    fn member(id: &str) -> Member {
        Member {
            id: id.into(),
            deleted: false,
            is_bot: false,
            is_email_confirmed: Some(true),
        }
    }

    #[test]
    fn deleted_bots_slackbot_and_unconfirmed_emails_are_skipped() {
        assert_eq!(skip_reason(&member("U1")), None);
        assert_eq!(
            skip_reason(&Member {
                deleted: true,
                ..member("U1")
            }),
            Some("deleted")
        );
        assert_eq!(
            skip_reason(&Member {
                is_bot: true,
                ..member("B1")
            }),
            Some("bot")
        );
        assert_eq!(skip_reason(&member("USLACKBOT")), Some("slackbot"));
        for confirmed in [None, Some(false)] {
            assert_eq!(
                skip_reason(&Member {
                    is_email_confirmed: confirmed,
                    ..member("U1")
                }),
                Some("email not confirmed")
            );
        }
    }

    #[test]
    fn phone_numbers_follow_the_slack_rule() {
        assert_eq!(phone("010-1234-5678").as_deref(), Some("01012345678"));
        assert_eq!(phone("+82 10 1234 5678").as_deref(), Some("01012345678"));
        assert_eq!(phone("+82-10-1234-5678").as_deref(), Some("01012345678"));
        assert_eq!(phone("011 123 4567").as_deref(), Some("0111234567"));
        assert_eq!(phone("016-1234-5678").as_deref(), Some("01612345678"));
        // The users function takes 017-019, the Slack rule only 010, 011, 016.
        for bad in [
            "017-123-4567",
            "019-1234-5678",
            "02-123-4567",
            "010-1234-56789",
            "010-123-456",
            "010.1234.5678",
            "(010) 1234 5678",
            "+1 415 555 0100",
            "",
        ] {
            assert_eq!(phone(bad), None, "{bad}");
        }
    }

    #[test]
    fn github_links_give_logins_only_in_the_documented_forms() {
        let cases = [
            ("https://github.com/waffle-member", Some("waffle-member")),
            ("https://www.github.com/waffle", Some("waffle")),
            ("https://github.com/waffle/", Some("waffle")),
            ("https://github.com/waffle/repo", Some("waffle")),
            ("https://github.com/waffle?tab=repositories", Some("waffle")),
            ("HTTPS://GitHub.com/Waffle", Some("Waffle")),
            ("https://github.com:443/waffle", Some("waffle")),
            ("https://waffle.github.io", Some("waffle")),
            ("https://waffle.github.io/blog/post", Some("waffle")),
            ("  https://github.com/waffle  ", Some("waffle")),
            ("http://github.com/waffle", None),
            ("http://waffle.github.io", None),
            ("github.com/waffle", None),
            ("waffle", None),
            ("@waffle", None),
            ("https://github.com", None),
            ("https://github.com/", None),
            ("https://github.com//waffle", None),
            ("https://github.com/-bad-", None),
            ("https://github.com/a--b", None),
            ("https://github.com/under_score", None),
            ("https://github.com/%77affle", None),
            ("https://gitlab.com/waffle", None),
            ("https://github.community/waffle", None),
            ("https://notgithub.com/waffle", None),
            ("https://github.com.evil.example/waffle", None),
            ("https://a.b.github.io", None),
            ("https://github.io", None),
            ("https://user@github.com/waffle", None),
            ("https://github.com:x/waffle", None),
            ("https://", None),
            ("https://github .com/waffle", None),
            ("ftp://github.com/waffle", None),
            ("https://github.com/깃허브", None),
            ("", None),
        ];
        for (link, expected) in cases {
            assert_eq!(github_login(link).as_deref(), expected, "{link:?}");
        }
        let long = format!("https://github.com/{}", "a".repeat(40));
        assert_eq!(github_login(&long), None);
    }

    #[test]
    fn positions_match_names_and_aliases_case_insensitively() {
        let positions = seeded();
        let (matched, unknown) = split_positions(
            "Backend, 프론트 / ios,FE, Designer/디자인 , AOS, 블록체인,, PM, 운영팀",
            &positions,
        );
        assert_eq!(
            matched,
            ["백엔드", "프론트엔드", "iOS", "디자이너", "안드로이드"]
        );
        assert_eq!(unknown, ["블록체인", "PM", "운영팀"]);
        for (written, name) in [
            ("front-end", "프론트엔드"),
            ("Frontend", "프론트엔드"),
            ("BE", "백엔드"),
            ("back-end", "백엔드"),
            ("Server", "백엔드"),
            ("서버", "백엔드"),
            ("android", "안드로이드"),
            ("design", "디자이너"),
            ("IOS", "iOS"),
            ("백엔드", "백엔드"),
        ] {
            assert_eq!(positions.resolve(written), Some(name), "{written}");
        }
        // An alias only counts when its position exists.
        assert_eq!(Positions::new(["iOS"]).resolve("Backend"), None);
    }

    #[test]
    fn a_profile_maps_to_checked_fields() {
        let profile = json!({
            "first_name": " 와플 ",
            "last_name": "김",
            "email": "waffle.member@example.com",
            "phone": "010-1234-5678",
            "image_192": "https://avatars.slack-edge.example/U01AB2CD3EF_192.png",
            "fields": {
                "Xf01UD0C7526": {"value": "https://github.com/waffle-member", "alt": ""},
                "Xf01UD0AM3S6": {"value": "Backend, 프론트", "alt": ""},
                "Xf02CN9EEQCD": {"value": "21.5", "alt": ""}
            }
        });
        assert_eq!(
            map_profile("U01AB2CD3EF", &profile, &seeded()),
            Mapped {
                slack_id: "U01AB2CD3EF".into(),
                first_name: Some("와플".into()),
                last_name: Some("김".into()),
                slack_email: Some("waffle.member@example.com".into()),
                image_url: Some("https://avatars.slack-edge.example/U01AB2CD3EF_192.png".into()),
                phone_number: Some("01012345678".into()),
                github_id: Some("waffle-member".into()),
                generation: Some("21.5".into()),
                positions: vec!["백엔드".into(), "프론트엔드".into()],
                unknown_positions: vec![],
            }
        );
    }

    #[test]
    fn missing_odd_or_invalid_values_map_to_nothing() {
        let profile = json!({
            "first_name": "",
            "email": "not-an-address",
            "phone": "02-123-4567",
            "image_192": "javascript:alert(1)",
            "fields": {
                "Xf01UD0C7526": {"value": "https://github.com/"},
                "Xf02CN9EEQCD": {"value": "21기"},
                "Xf01UD0AM3S6": {"alt": ""}
            }
        });
        let mapped = map_profile("U1", &profile, &seeded());
        assert_eq!(
            mapped,
            Mapped {
                slack_id: "U1".into(),
                ..Mapped::default()
            }
        );
        // Slack sends `"fields": []` or `null` for a profile without custom fields,
        // and values of other types can only be ignored.
        for fields in [
            json!([]),
            json!(null),
            json!({"Xf02CN9EEQCD": {"value": 21}}),
        ] {
            let profile = json!({"first_name": "A", "fields": fields, "last_name": 7});
            let mapped = map_profile("U1", &profile, &seeded());
            assert_eq!(mapped.first_name.as_deref(), Some("A"));
            assert_eq!(mapped.last_name, None);
            assert_eq!(mapped.generation, None);
        }
        let long = json!({"first_name": "가".repeat(31), "generation": "19"});
        assert_eq!(map_profile("U1", &long, &seeded()).first_name, None);
        for (value, expected) in [
            ("19", Some("19")),
            ("19.5", Some("19.5")),
            ("123", None),
            ("19.0", None),
        ] {
            let profile = json!({"fields": {"Xf02CN9EEQCD": {"value": value}}});
            assert_eq!(
                map_profile("U1", &profile, &seeded()).generation.as_deref(),
                expected,
                "{value}"
            );
        }
    }
}
