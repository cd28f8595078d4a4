//! URLs shown in messages and logs without their password.

/// `url` with any password (`scheme://user:PASSWORD@host`) replaced by `***`. The
/// last `@` ends the credentials even when a raw `/` in the password hides it from a
/// URL parser.
pub fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.rfind('@') {
        Some(at) => match rest[..at].split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***{}", &rest[at..]),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::without_password;

    #[test]
    fn only_the_password_is_hidden() {
        assert_eq!(
            without_password("nats://u:p/w@h:4222"),
            "nats://u:***@h:4222"
        );
        assert_eq!(
            without_password("clickhouse://u@h:1/db"),
            "clickhouse://u@h:1/db"
        );
        assert_eq!(without_password("h:1"), "h:1");
    }
}
