//! Template parameters as CloudFormation takes them: the template's `Default`s, the
//! values given (the local variables the stand-in maps, and `WADOT_PARAMETER_OVERRIDES`
//! in `sam deploy --parameter-overrides` syntax), then each checked against its
//! constraints, a failure stopping the start in CloudFormation's own words
//! (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/parameters-section-structure.html).

use std::collections::BTreeMap;

use anyhow::{Result, anyhow, bail};
use serde_norway::Value as Yaml;

/// Parameter values by name.
pub type Parameters = BTreeMap<String, Yaml>;

/// `Key=Value` pairs separated by spaces, a value quoted when it holds spaces (`Key="a
/// b"` or `Key='a b'`), as `sam deploy --parameter-overrides` takes them; the long form
/// `ParameterKey=Key,ParameterValue=Value` too
/// (https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-cli-command-reference-sam-deploy.html).
pub fn parse_overrides(text: &str) -> Result<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    for word in words(text)? {
        if let Some(rest) = word.strip_prefix("ParameterKey=") {
            let (key, value) = rest
                .split_once(",ParameterValue=")
                .ok_or_else(|| anyhow!("{word:?}: expected ParameterKey=K,ParameterValue=V"))?;
            pairs.push((key.to_owned(), value.to_owned()));
            continue;
        }
        let (key, value) = word
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| anyhow!("{word:?}: expected Key=Value"))?;
        pairs.push((key.to_owned(), value.to_owned()));
    }
    Ok(pairs)
}

/// Splits on spaces outside quotes, dropping the quotes (as the shell would have).
fn words(text: &str) -> Result<Vec<String>> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut started = false;
    let mut quote: Option<char> = None;
    for c in text.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                started = true;
            }
            (None, c) if c.is_whitespace() => {
                if started {
                    words.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            (None, c) => {
                word.push(c);
                started = true;
            }
        }
    }
    if quote.is_some() {
        bail!("WADOT_PARAMETER_OVERRIDES: a quote is not closed");
    }
    if started {
        words.push(word);
    }
    Ok(words)
}

/// Every parameter's value: given, else its `Default`; checked against `Type`,
/// `AllowedValues`, `AllowedPattern`, `MinValue`/`MaxValue` and `MinLength`/`MaxLength`.
/// `given` may only name parameters the template declares.
pub fn resolve(template: &Yaml, given: &Parameters) -> Result<Parameters> {
    let declared = template["Parameters"].as_mapping();
    let unknown: Vec<&str> = given
        .keys()
        .filter(|name| declared.is_none_or(|d| !d.contains_key(name.as_str())))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        bail!(
            "Parameters: [{}] do not exist in the template",
            unknown.join(", ")
        );
    }
    let mut values = Parameters::new();
    let mut missing = Vec::new();
    for (name, spec) in declared.into_iter().flatten() {
        let name = text(name);
        let value = given
            .get(&name)
            .cloned()
            .or_else(|| (!spec["Default"].is_null()).then(|| spec["Default"].clone()));
        match value {
            Some(value) => {
                check(&name, spec, &value)?;
                values.insert(name, value);
            }
            None => missing.push(name),
        }
    }
    if !missing.is_empty() {
        bail!("Parameters: [{}] must have values", missing.join(", "));
    }
    Ok(values)
}

/// One value against its parameter's constraints. `AWS::SSM::Parameter::Value<...>`
/// parameters name an SSM parameter whose value CloudFormation reads; their constraints
/// apply to what SSM holds, which the stand-in does not read, so they are not checked.
fn check(name: &str, spec: &Yaml, value: &Yaml) -> Result<()> {
    let kind = text(&spec["Type"]);
    if kind.starts_with("AWS::SSM::") {
        return Ok(());
    }
    let items: Vec<String> = match value {
        Yaml::Sequence(items) => items.iter().map(text).collect(),
        other if kind == "CommaDelimitedList" || kind.starts_with("List<") => text(other)
            .split(',')
            .map(|s| s.trim().to_owned())
            .collect(),
        other => vec![text(other)],
    };
    for item in &items {
        if kind == "Number" || kind == "List<Number>" {
            let Ok(n) = item.trim().parse::<f64>() else {
                bail!("Parameter '{name}' must be a number");
            };
            if let Some(min) = spec["MinValue"]
                .as_f64()
                .or_else(|| parse(&spec["MinValue"]))
                && n < min
            {
                bail!(
                    "Parameter '{name}' must be a number not less than {}",
                    text(&spec["MinValue"])
                );
            }
            if let Some(max) = spec["MaxValue"]
                .as_f64()
                .or_else(|| parse(&spec["MaxValue"]))
                && n > max
            {
                bail!(
                    "Parameter '{name}' must be a number not greater than {}",
                    text(&spec["MaxValue"])
                );
            }
        }
        if let Some(allowed) = spec["AllowedValues"].as_sequence()
            && !allowed.iter().any(|a| text(a) == *item)
        {
            bail!("Parameter '{name}' must be one of AllowedValues");
        }
        if let Some(pattern) = spec["AllowedPattern"].as_str() {
            // CloudFormation matches the whole value.
            let whole = regex_lite::Regex::new(&format!("^(?:{pattern})$"))
                .map_err(|e| anyhow!("Parameter '{name}': AllowedPattern is invalid: {e}"))?;
            if !whole.is_match(item) {
                bail!("Parameter '{name}' must match pattern {pattern}");
            }
        }
        let length = item.chars().count();
        if let Some(min) = spec["MinLength"].as_u64()
            && (length as u64) < min
        {
            bail!("Parameter '{name}' must contain at least {min} characters");
        }
        if let Some(max) = spec["MaxLength"].as_u64()
            && (length as u64) > max
        {
            bail!("Parameter '{name}' must contain at most {max} characters");
        }
    }
    Ok(())
}

fn parse(value: &Yaml) -> Option<f64> {
    value.as_str().and_then(|s| s.trim().parse().ok())
}

fn text(value: &Yaml) -> String {
    match value {
        Yaml::String(s) => s.clone(),
        Yaml::Bool(b) => b.to_string(),
        Yaml::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(parameters: &str) -> Yaml {
        serde_norway::from_str(&format!("Parameters:\n{parameters}")).expect("YAML")
    }

    fn given(pairs: &[(&str, &str)]) -> Parameters {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Yaml::String((*v).to_owned())))
            .collect()
    }

    #[test]
    fn overrides_read_like_sam_deploy() {
        let pairs = parse_overrides(
            r#"ApiThrottleRate=5 Name="a b" Other='c d' ParameterKey=K,ParameterValue=v Empty="""#,
        )
        .expect("parsed");
        assert_eq!(
            pairs,
            [
                ("ApiThrottleRate".into(), "5".into()),
                ("Name".into(), "a b".into()),
                ("Other".into(), "c d".into()),
                ("K".into(), "v".into()),
                ("Empty".into(), String::new()),
            ]
        );
        assert!(parse_overrides("NoEquals").is_err());
        assert!(parse_overrides("A=\"open").is_err());
    }

    #[test]
    fn constraints_fail_in_cloudformations_words() {
        let t = template(
            "  Rate: {Type: Number, Default: 50, MinValue: 1}\n  Env: {Type: String, AllowedValues: [dev, prod]}\n  Issuer: {Type: String, Default: 'https://x', AllowedPattern: '^https://.+'}\n  Key: {Type: 'AWS::SSM::Parameter::Value<String>', Default: /a/b, AllowedPattern: 'x'}\n",
        );
        let error =
            |pairs: &[(&str, &str)]| resolve(&t, &given(pairs)).expect_err("refused").to_string();
        assert_eq!(error(&[]), "Parameters: [Env] must have values");
        assert_eq!(
            error(&[("Env", "stage")]),
            "Parameter 'Env' must be one of AllowedValues"
        );
        assert_eq!(
            error(&[("Env", "dev"), ("Rate", "0")]),
            "Parameter 'Rate' must be a number not less than 1"
        );
        assert_eq!(
            error(&[("Env", "dev"), ("Rate", "fast")]),
            "Parameter 'Rate' must be a number"
        );
        assert_eq!(
            error(&[("Env", "dev"), ("Issuer", "http://x")]),
            "Parameter 'Issuer' must match pattern ^https://.+"
        );
        assert_eq!(
            error(&[("Env", "dev"), ("Nope", "1")]),
            "Parameters: [Nope] do not exist in the template"
        );
        let values = resolve(&t, &given(&[("Env", "prod"), ("Rate", "2.5")])).expect("valid");
        assert_eq!(values["Rate"], Yaml::String("2.5".into()));
        assert_eq!(values["Issuer"], Yaml::String("https://x".into()));
    }
}
