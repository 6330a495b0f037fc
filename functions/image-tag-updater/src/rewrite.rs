//! The rewrite of one file: byte-exact, so that only the tag changes.

/// Gives every `image: <image>:<tag>` in `content` the tag `new_tag`, leaving every
/// other byte as it is; `None` when nothing changes.
///
/// - `image` is `<ECR_HOST>/<repository-name>` and must be followed by `:` right away,
///   so `.../snutt-dev/snutt-ev:` never matches `.../snutt-dev/snutt-ev-web:`.
/// - The key is `image` as a word (not `baseImage:`), then `:`, one or more spaces or
///   tabs, and the value, bare or opened by a `"` or `'`: it must start with `image`
///   (another registry's `otherhost/snutt-dev/snutt-ev:` does not match).
/// - The tag is everything after that `:` up to the first whitespace (so also a CR of a
///   CRLF line), quote, `#`, `,`, `]` or `}` (these end a value in a flow mapping or
///   list). A `@sha256:...` digest after the tag is part of it and is replaced too: the
///   new tag, not an old pin, decides the image. An empty tag matches nothing.
/// - Every occurrence on a line is rewritten; content is bytes, so encodings, line
///   endings and a missing final newline pass through untouched.
pub fn rewrite(content: &[u8], image: &str, new_tag: &str) -> Option<Vec<u8>> {
    let mut out: Vec<u8> = Vec::new();
    let mut copied = 0;
    for tag in tag_ranges(content, image) {
        if &content[tag.clone()] == new_tag.as_bytes() {
            continue;
        }
        out.extend_from_slice(&content[copied..tag.start]);
        out.extend_from_slice(new_tag.as_bytes());
        copied = tag.end;
    }
    if copied == 0 {
        return None;
    }
    out.extend_from_slice(&content[copied..]);
    Some(out)
}

/// The tags `content` gives `image` now, as [`rewrite`] finds them, each once, without a
/// `@sha256:...` pin: what the updater asks ECR about before moving them.
pub fn current_tags(content: &[u8], image: &str) -> Vec<String> {
    let mut tags: Vec<String> = Vec::new();
    for range in tag_ranges(content, image) {
        let value = &content[range];
        let tag = value.split(|b| *b == b'@').next().unwrap_or(value);
        if let Ok(tag) = std::str::from_utf8(tag)
            && !tag.is_empty()
            && !tags.iter().any(|t| t == tag)
        {
            tags.push(tag.to_owned());
        }
    }
    tags
}

/// Where the (non-empty) tags of `image` are in `content`, in order.
fn tag_ranges(content: &[u8], image: &str) -> Vec<std::ops::Range<usize>> {
    const KEY: &[u8] = b"image:";
    let image = image.as_bytes();
    let mut ranges = Vec::new();
    let mut from = 0;
    while let Some(found) = find(&content[from..], KEY) {
        let key = from + found;
        from = key + KEY.len();
        let word_start = key == 0
            || !matches!(content[key - 1], b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.');
        if !word_start {
            continue;
        }
        let mut at = from;
        while matches!(content.get(at), Some(b' ' | b'\t')) {
            at += 1;
        }
        if at == from {
            continue;
        }
        if matches!(content.get(at), Some(b'"' | b'\'')) {
            at += 1;
        }
        if !content[at..].starts_with(image) || content.get(at + image.len()) != Some(&b':') {
            continue;
        }
        let tag_start = at + image.len() + 1;
        let tag_end = content[tag_start..]
            .iter()
            .position(|b| b.is_ascii_whitespace() || b"\"'#,]}".contains(b))
            .map_or(content.len(), |n| tag_start + n);
        from = tag_end;
        if tag_end > tag_start {
            ranges.push(tag_start..tag_end);
        }
    }
    ranges
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const IMAGE: &str = "405906814034.dkr.ecr.ap-northeast-2.amazonaws.com/snutt-dev/snutt-ev";

    fn rewritten(content: &str) -> Option<String> {
        rewrite(content.as_bytes(), IMAGE, "241").map(|b| String::from_utf8(b).unwrap())
    }

    #[test]
    fn the_tag_is_replaced_and_nothing_else() {
        let host = "405906814034.dkr.ecr.ap-northeast-2.amazonaws.com";
        for (before, after) in [
            (
                format!("        image: {IMAGE}:240\n"),
                format!("        image: {IMAGE}:241\n"),
            ),
            (
                format!("  - image: {IMAGE}:240 # deployed by CI\r\n"),
                format!("  - image: {IMAGE}:241 # deployed by CI\r\n"),
            ),
            (
                format!("image: \"{IMAGE}:240\""),
                format!("image: \"{IMAGE}:241\""),
            ),
            (
                format!("image:\t'{IMAGE}:240'  # quoted\n"),
                format!("image:\t'{IMAGE}:241'  # quoted\n"),
            ),
            (
                format!("image: {IMAGE}:240#tight-comment"),
                format!("image: {IMAGE}:241#tight-comment"),
            ),
            (
                format!("{{image: {IMAGE}:240, name: ev}}"),
                format!("{{image: {IMAGE}:241, name: ev}}"),
            ),
            (
                format!("image: {IMAGE}:240@sha256:abcdef\n"),
                format!("image: {IMAGE}:241\n"),
            ),
            (
                format!("a: 1\nimage: {IMAGE}:old\nb: {IMAGE}:old\nimage: {IMAGE}:older"),
                format!("a: 1\nimage: {IMAGE}:241\nb: {IMAGE}:old\nimage: {IMAGE}:241"),
            ),
            (
                format!("[{{image: {IMAGE}:1}}, {{image: {IMAGE}:2}}]"),
                format!("[{{image: {IMAGE}:241}}, {{image: {IMAGE}:241}}]"),
            ),
            (
                format!("image: {host}/snutt-dev/snutt-ev:240 # 한국어 주석 ✓\n"),
                format!("image: {host}/snutt-dev/snutt-ev:241 # 한국어 주석 ✓\n"),
            ),
        ] {
            assert_eq!(
                rewritten(&before).as_deref(),
                Some(after.as_str()),
                "{before:?}"
            );
        }
    }

    #[test]
    fn other_images_and_keys_do_not_match() {
        for content in [
            format!("image: {IMAGE}-web:240\n"),
            format!("image: {IMAGE}/sub:240\n"),
            format!("image: other.registry/{IMAGE}:240\n"),
            "image: registry.example.com/snutt-dev/snutt-ev:240\n".to_owned(),
            format!("baseImage: {IMAGE}:240\n"),
            format!("my-image: {IMAGE}:240\n"),
            format!("image:{IMAGE}:240\n"),
            format!("image: {IMAGE}\n"),
            format!("image: {IMAGE}:\n"),
            format!("image: {IMAGE}:241\n"),
            format!("name: {IMAGE}:240\n"),
            String::new(),
        ] {
            assert_eq!(rewritten(&content), None, "{content:?}");
        }
    }

    #[test]
    fn current_tags_are_read_as_the_rewrite_finds_them() {
        let content = format!(
            "image: {IMAGE}:240\n  - image: '{IMAGE}:239@sha256:abc'\nimage: {IMAGE}:240 # again\n\
             image: {IMAGE}-web:999\nbaseImage: {IMAGE}:1\nimage: {IMAGE}:\n"
        );
        assert_eq!(current_tags(content.as_bytes(), IMAGE), ["240", "239"]);
        assert!(current_tags(b"nothing here", IMAGE).is_empty());
    }

    #[test]
    fn bytes_that_are_not_utf8_pass_through() {
        let mut content = b"\xff\xfe latin-1 \xe9\n".to_vec();
        content.extend_from_slice(format!("image: {IMAGE}:1\n").as_bytes());
        content.push(0xc3);
        let mut expected = b"\xff\xfe latin-1 \xe9\n".to_vec();
        expected.extend_from_slice(format!("image: {IMAGE}:241\n").as_bytes());
        expected.push(0xc3);
        assert_eq!(rewrite(&content, IMAGE, "241"), Some(expected));
    }
}
