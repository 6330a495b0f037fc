//! The stand-in answers as AWS does where a limit is reached: each rule of
//! docs/lambdas-mode.md against a small template of its own, with the probe function
//! (src/bin/stand-in-probe.rs) behind it, over real HTTP on loopback.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gateway::{Gateway, Options};
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// A probe function named `name`, with more `properties` (events included).
fn function(id: &str, name: &str, properties: &str) -> String {
    format!(
        "  {id}:\n    Type: AWS::Serverless::Function\n    Properties:\n      FunctionName: {name}\n      CodeUri: target/lambda/stand-in-probe/\n{properties}"
    )
}

/// An HTTP API whose `ANY /{{proxy+}}` goes to `Probe`, with `api` properties.
fn template(api: &str, functions: &[String], parameters: &str) -> String {
    format!(
        "Parameters:\n  Unused: {{Type: String, Default: x}}\n{parameters}\nResources:\n  Api:\n    Type: AWS::Serverless::HttpApi\n    Properties:\n      Description: test\n{api}\n{}\n",
        functions.join("\n")
    )
}

/// The probe's `ANY /{proxy+}` route.
const PROXY_ROUTE: &str = "      Events:\n        Any:\n          Type: HttpApi\n          Properties: {Method: ANY, Path: \"/{proxy+}\"}\n";

/// The stand-in serving a template, on loopback.
struct Stand {
    gateway: Arc<Gateway>,
    api: String,
    invoke: String,
    dir: PathBuf,
    http: reqwest::Client,
}

impl Drop for Stand {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn probe_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_stand-in-probe"))
        .parent()
        .expect("the probe's folder")
        .to_owned()
}

fn options(text: &str, env: &[(&str, &str)], dir: &std::path::Path, port: u16) -> Options {
    std::fs::create_dir_all(dir).expect("a folder");
    let path = dir.join("template.yaml");
    std::fs::write(&path, text).expect("write the template");
    // The probe is built as `stand-in-probe`; the template names that binary.
    Options {
        template: path,
        bin_dir: probe_dir(),
        invoke_addr: SocketAddr::from(([127, 0, 0, 1], 9)),
        api_port: port,
        state_dir: dir.join("state"),
        retry_delays: [Duration::from_millis(200), Duration::from_millis(400)],
        env: env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<BTreeMap<_, _>>(),
    }
}

fn scratch() -> PathBuf {
    std::env::temp_dir().join(format!("stand-in-{}", uuid::Uuid::new_v4().simple()))
}

/// Why the stand-in refuses to start on `text`.
fn refused(text: &str, env: &[(&str, &str)]) -> String {
    let dir = scratch();
    let outcome = Gateway::new(&options(text, env, &dir, 1));
    let _ = std::fs::remove_dir_all(&dir);
    match outcome {
        Ok(_) => panic!("the stand-in started"),
        Err(error) => format!("{error:#}"),
    }
}

async fn start(text: &str, env: &[(&str, &str)]) -> Stand {
    let dir = scratch();
    let api_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let invoke_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let api_addr = api_listener.local_addr().expect("addr");
    let invoke_addr = invoke_listener.local_addr().expect("addr");
    let mut options = options(text, env, &dir, api_addr.port());
    options.invoke_addr = invoke_addr;
    let gateway = Arc::new(Gateway::new(&options).expect("the stand-in starts"));
    let app = gateway
        .api()
        .into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(api_listener, app).await });
    let internal = gateway.internal();
    tokio::spawn(async move { axum::serve(invoke_listener, internal).await });
    Stand {
        gateway,
        api: format!("http://{api_addr}"),
        invoke: format!("http://{invoke_addr}"),
        dir,
        http: reqwest::Client::new(),
    }
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
    elapsed: Duration,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("JSON: {}", String::from_utf8_lossy(&self.body)))
    }
}

impl Stand {
    async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let started = Instant::now();
        let response = request.send().await.expect("an answer");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.expect("a body").to_vec();
        Answer {
            status,
            headers,
            body,
            elapsed: started.elapsed(),
        }
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(self.http.get(format!("{}{path}", self.api)))
            .await
    }

    /// The Invoke API, `RequestResponse` unless `kind` says otherwise.
    async fn invoke(&self, function: &str, kind: &str, payload: Vec<u8>) -> Answer {
        self.send(
            self.http
                .post(format!(
                    "{}/2015-03-31/functions/{function}/invocations",
                    self.invoke
                ))
                .header("x-amz-invocation-type", kind)
                .body(payload),
        )
        .await
    }
}

/// API Gateway's own answer: `{"message": message}` with `status`.
fn assert_gateway(answer: &Answer, status: u16, message: &str) {
    assert_eq!(
        answer.status,
        status,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_eq!(answer.json(), json!({ "message": message }));
}

fn reserved_probe(reserved: u32) -> String {
    template(
        "",
        &[function(
            "Probe",
            "probe",
            &format!(
                "      Timeout: 10\n      ReservedConcurrentExecutions: {reserved}\n{PROXY_ROUTE}"
            ),
        )],
        "",
    )
}

#[tokio::test]
async fn a_function_reserved_at_1_refuses_the_second_concurrent_invocation_at_once() {
    let stand = start(&reserved_probe(1), &[]).await;
    // Warm: the first cold start is not what is measured.
    assert_eq!(stand.get("/sleep/0").await.status, 200);

    let slow = {
        let http = stand.http.clone();
        let url = format!("{}/sleep/3000", stand.api);
        tokio::spawn(async move { http.get(url).send().await.map(|r| r.status().as_u16()) })
    };
    tokio::time::sleep(Duration::from_millis(1000)).await;
    // Through API Gateway: Lambda's 429 becomes API Gateway's own 500, at once.
    let second = stand.get("/sleep/0").await;
    assert_gateway(&second, 500, "Internal Server Error");
    assert!(
        second.elapsed < Duration::from_millis(1000),
        "{:?}",
        second.elapsed
    );
    // Through the Invoke API: 429 TooManyRequestsException, with Lambda's reason.
    let direct = stand
        .invoke("probe", "RequestResponse", b"{}".to_vec())
        .await;
    assert_eq!(direct.status, 429);
    assert_eq!(
        direct.headers["x-amzn-errortype"],
        "TooManyRequestsException"
    );
    assert_eq!(
        direct.json()["Reason"],
        "ReservedFunctionConcurrentInvocationLimitExceeded"
    );
    assert_eq!(slow.await.expect("task").expect("answer"), 200);
    // Free again once the first is done.
    assert_eq!(stand.get("/sleep/0").await.status, 200);

    // Reserved at 0, the function takes nothing.
    let stopped = start(&reserved_probe(0), &[]).await;
    assert_gateway(&stopped.get("/echo").await, 500, "Internal Server Error");
}

#[tokio::test]
async fn unreserved_functions_share_the_accounts_concurrency() {
    // An account of 1 (a new account's quota can be that low), nothing reserved.
    let text = template(
        "",
        &[function(
            "Probe",
            "probe",
            &format!("      Timeout: 10\n{PROXY_ROUTE}"),
        )],
        "",
    );
    let stand = start(&text, &[("WADOT_ACCOUNT_CONCURRENCY", "1")]).await;
    assert_eq!(stand.gateway.unreserved_concurrency, 1);
    let slow = {
        let http = stand.http.clone();
        let url = format!("{}/sleep/3000", stand.api);
        tokio::spawn(async move { http.get(url).send().await.map(|r| r.status().as_u16()) })
    };
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let direct = stand
        .invoke("probe", "RequestResponse", b"{}".to_vec())
        .await;
    assert_eq!(direct.status, 429);
    assert_eq!(direct.json()["Reason"], "ConcurrentInvocationLimitExceeded");
    assert_eq!(slow.await.expect("task").expect("answer"), 200);

    // Lambda keeps 100 unreserved: a reservation that leaves less is refused.
    let reserving = template(
        "",
        &[
            function("Probe", "probe", PROXY_ROUTE),
            function(
                "Reserved",
                "reserved",
                "      ReservedConcurrentExecutions: 100\n",
            ),
        ],
        "",
    );
    let error = refused(&reserving, &[("WADOT_ACCOUNT_CONCURRENCY", "150")]);
    assert!(
        error.contains("below its minimum value of [100]"),
        "{error}"
    );
    let fine = start(&reserving, &[("WADOT_ACCOUNT_CONCURRENCY", "200")]).await;
    assert_eq!(fine.gateway.unreserved_concurrency, 100);
}

fn throttled(stage: &str, routes: &str) -> String {
    template(
        &format!(
            "      DefaultRouteSettings:\n        ThrottlingRateLimit: !Ref Rate\n        ThrottlingBurstLimit: !Ref Burst\n      RouteSettings:\n{routes}"
        ),
        &[
            function("Probe", "probe", PROXY_ROUTE),
            function(
                "Other",
                "other",
                "      Events:\n        Get:\n          Type: HttpApi\n          Properties: {Method: GET, Path: /echo/other}\n",
            ),
        ],
        &format!(
            "  Rate: {{Type: Number, Default: 50, MinValue: 1}}\n  Burst: {{Type: Number, Default: 100, MinValue: 1}}\n{stage}"
        ),
    )
}

#[tokio::test]
async fn a_throttled_stage_answers_429_and_route_settings_override_it() {
    let text = throttled(
        "",
        "        \"GET /echo/other\":\n          ThrottlingRateLimit: 1\n          ThrottlingBurstLimit: 3\n",
    );
    // Rate 1 per second, burst 1: parameters given as `sam deploy` takes them.
    let stand = start(
        &text,
        &[("WADOT_PARAMETER_OVERRIDES", "Rate=1 Burst=\"1\"")],
    )
    .await;
    assert_eq!(stand.get("/echo").await.status, 200);
    let refused = stand.get("/echo").await;
    assert_gateway(&refused, 429, "Too Many Requests");
    // The route with its own settings has its own bucket: 3 at once, then 429.
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(stand.get("/echo/other").await.status);
    }
    assert_eq!(statuses, [200, 200, 200, 429]);
    // A second later the stage's bucket holds a token again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(stand.get("/echo").await.status, 200);
    assert!(stand.gateway.limits().contains("stage 1 rps, burst 1"));
}

#[tokio::test]
async fn parameters_fail_as_cloudformation_says() {
    let text = throttled("", "        {}\n");
    assert_eq!(
        refused(&text, &[("WADOT_PARAMETER_OVERRIDES", "Rate=0")]),
        "Parameter 'Rate' must be a number not less than 1 (local --lambdas gives \
         JwtPublicKey from WAFFLE_JWT_PUBLIC_KEY, JwtIssuer from WAFFLE_JWT_ISSUER, \
         AllowedOrigins from CORS_ALLOW_ORIGINS, AppEnv from WADOT_APP_ENV, and any \
         parameter from WADOT_PARAMETER_OVERRIDES)"
    );
    let missing = throttled(
        "  Env: {Type: String, AllowedValues: [dev, prod]}\n",
        "        {}\n",
    );
    assert!(refused(&missing, &[]).starts_with("Parameters: [Env] must have values"),);
    assert!(
        refused(&missing, &[("WADOT_PARAMETER_OVERRIDES", "Env=stage")])
            .starts_with("Parameter 'Env' must be one of AllowedValues")
    );
    assert!(
        refused(&text, &[("WADOT_PARAMETER_OVERRIDES", "Nope=1")])
            .starts_with("Parameters: [Nope] do not exist in the template")
    );
}

#[tokio::test]
async fn a_route_ending_in_a_slash_stops_the_start() {
    let text = template(
        "",
        &[function(
            "Probe",
            "probe",
            "      Events:\n        Slash:\n          Type: HttpApi\n          Properties: {Method: GET, Path: /health/}\n",
        )],
        "",
    );
    let error = refused(&text, &[]);
    assert!(
        error.contains("Probe, event Slash: the route `GET /health/` ends in `/`"),
        "{error}"
    );
    assert!(error.contains("do not keep such routes"), "{error}");
}

#[tokio::test]
async fn an_oversized_response_is_refused() {
    let stand = start(&reserved_probe(5), &[]).await;
    // Under 6 MB as serialized: delivered whole.
    let fits = stand.get("/big/6000000").await;
    assert_eq!(fits.status, 200);
    assert_eq!(fits.body.len(), 6_000_000);
    // Over: Lambda fails the invocation; API Gateway answers its 500.
    let big = stand.get("/big/6300000").await;
    assert_gateway(&big, 500, "Internal Server Error");
    // The Invoke API says why.
    let event = json!({"rawPath": "/big/6300000"}).to_string().into_bytes();
    let direct = stand.invoke("probe", "RequestResponse", event).await;
    assert_eq!(direct.status, 200);
    assert_eq!(direct.headers["x-amz-function-error"], "Unhandled");
    assert_eq!(direct.json()["errorType"], "Function.ResponseSizeTooLarge");
    // The environment survived: the next invocation is served.
    assert_eq!(stand.get("/sleep/0").await.status, 200);
}

#[tokio::test]
async fn request_sizes_are_held_to_lambdas_and_api_gateways_quotas() {
    let stand = start(&reserved_probe(5), &[]).await;
    let post = |size: usize| {
        stand
            .http
            .post(format!("{}/echo", stand.api))
            .header("content-type", "application/json")
            .body(vec![b'a'; size])
    };
    // A 7 MB body is within the HTTP API's 10 MB, but the event is over Lambda's 6 MB:
    // Lambda refuses the invocation, API Gateway answers 500.
    assert_gateway(
        &stand.send(post(7_000_000)).await,
        500,
        "Internal Server Error",
    );
    // Over 10 MB, API Gateway refuses the request itself.
    assert_gateway(
        &stand.send(post(10 * 1024 * 1024 + 1)).await,
        413,
        "Request Entity Too Large",
    );
    // Request line and header values over 10,240 bytes.
    let long = stand
        .send(
            stand
                .http
                .get(format!("{}/echo", stand.api))
                .header("x-padding", "p".repeat(10_300)),
        )
        .await;
    assert_gateway(&long, 431, "Request Header Fields Too Large");
    // The Invoke API: 6 MB synchronous, 1 MB asynchronous.
    let sync = stand
        .invoke("probe", "RequestResponse", vec![b' '; 6 * 1024 * 1024 + 1])
        .await;
    assert_eq!(sync.status, 413);
    assert_eq!(sync.headers["x-amzn-errortype"], "RequestTooLargeException");
    let event = stand
        .invoke("probe", "Event", vec![b' '; 1024 * 1024 + 1])
        .await;
    assert_eq!(event.status, 413);
}

#[tokio::test]
async fn the_integration_timeout_runs_on_the_gateways_clock() {
    let text = template(
        "",
        &[function(
            "Probe",
            "probe",
            "      Timeout: 1\n      Events:\n        Any:\n          Type: HttpApi\n          Properties: {Method: ANY, Path: \"/{proxy+}\", TimeoutInMillis: 800}\n",
        )],
        "",
    );
    let stand = start(&text, &[]).await;
    // Cold: the environment's start counts against the 800 ms too; then warm.
    let _ = stand.get("/sleep/0").await;
    let late = stand.get("/sleep/2000").await;
    assert_gateway(&late, 503, "Service Unavailable");
    assert!(
        late.elapsed < Duration::from_millis(1500),
        "{:?}",
        late.elapsed
    );

    // The function's own Timeout below the integration's: a function error, 500.
    let text = template(
        "",
        &[function(
            "Probe",
            "probe",
            &format!("      Timeout: 1\n{PROXY_ROUTE}"),
        )],
        "",
    );
    let stand = start(&text, &[]).await;
    assert_gateway(
        &stand.get("/sleep/1500").await,
        500,
        "Internal Server Error",
    );
}

#[tokio::test]
async fn an_answer_that_is_not_json_is_a_500() {
    let stand = start(&reserved_probe(5), &[]).await;
    assert_gateway(&stand.get("/text").await, 500, "Internal Server Error");
    assert_gateway(&stand.get("/error").await, 500, "Internal Server Error");
    // The Invoke API hands it back as it is.
    let event = json!({"rawPath": "/text"}).to_string().into_bytes();
    let direct = stand.invoke("probe", "RequestResponse", event).await;
    assert_eq!(direct.status, 200);
    assert_eq!(direct.body, b"plain text, not JSON");
}

#[tokio::test]
async fn bodies_are_base64_unless_their_type_is_text_and_forwarded_headers_tell_the_truth() {
    let stand = start(&reserved_probe(5), &[]).await;
    let echo = |kind: Option<&str>| {
        let mut request = stand
            .http
            .post(format!("{}/echo?x=1", stand.api))
            .header("x-forwarded-for", "203.0.113.7")
            .header("x-forwarded-proto", "https")
            .body("a=1");
        if let Some(kind) = kind {
            request = request.header("content-type", kind);
        }
        request
    };
    for (kind, base64) in [
        (Some("application/json; charset=utf-8"), false),
        (Some("text/plain"), false),
        (Some("application/xml"), false),
        (Some("application/x-www-form-urlencoded"), true),
        (Some("application/octet-stream"), true),
        (None, true),
    ] {
        let event = stand.send(echo(kind)).await.json();
        assert_eq!(event["isBase64Encoded"], base64, "{kind:?}");
        let expected = if base64 { "YT0x" } else { "a=1" };
        assert_eq!(event["body"], expected, "{kind:?}");
    }
    let event = stand.send(echo(None)).await.json();
    let port = stand.api.rsplit(':').next().expect("a port");
    assert_eq!(event["headers"]["x-forwarded-proto"], "http");
    assert_eq!(event["headers"]["x-forwarded-port"], port);
    assert_eq!(
        event["headers"]["x-forwarded-for"],
        "203.0.113.7, 127.0.0.1"
    );
    assert_eq!(event["requestContext"]["domainName"], "127.0.0.1");
}

fn asynchronous(extra: &str) -> String {
    template(
        "",
        &[function(
            "Probe",
            "probe",
            &format!(
                "      ReservedConcurrentExecutions: 1\n      EventInvokeConfig:\n        MaximumRetryAttempts: 1\n        MaximumEventAgeInSeconds: 60\n        DestinationConfig:\n          OnFailure:\n            Type: SQS\n            Destination: !GetAtt Failures.Arn\n{extra}"
            ),
        )],
        "",
    ) + "  Failures:\n    Type: AWS::SQS::Queue\n    Properties:\n      QueueName: probe-failures\n"
}

/// The lines of `path` once it has `count` of them (within 20 s).
async fn lines(path: &std::path::Path, count: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        if lines.len() >= count || Instant::now() > deadline {
            return lines;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_failed_event_is_retried_then_recorded_in_its_destination() {
    let stand = start(&asynchronous(""), &[]).await;
    let touched = stand.dir.join("touched");
    let payload = json!({"fail": true, "touch": touched});
    let accepted = stand
        .invoke("probe", "Event", payload.to_string().into_bytes())
        .await;
    assert_eq!(accepted.status, 202);
    let queue = stand.dir.join("state/probe-failures.jsonl");
    let records = lines(&queue, 1).await;
    assert_eq!(records.len(), 1, "one failure record");
    let record: Value = serde_json::from_str(&records[0]).expect("JSON");
    assert_eq!(record["version"], "1.0");
    assert_eq!(record["requestContext"]["condition"], "RetriesExhausted");
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 2);
    assert_eq!(
        record["requestContext"]["functionArn"],
        "arn:aws:lambda:ap-northeast-2:123456789012:function:probe:$LATEST"
    );
    assert_eq!(record["requestPayload"], payload);
    assert_eq!(record["responseContext"]["functionError"], "Unhandled");
    assert_eq!(record["responsePayload"]["errorType"], "Probe");
    // Run twice: once, and its one retry.
    assert_eq!(lines(&touched, 2).await.len(), 2);
}

#[tokio::test]
async fn events_above_the_reserved_concurrency_wait_and_run() {
    let stand = start(&asynchronous(""), &[]).await;
    let touched = stand.dir.join("touched");
    for _ in 0..2 {
        let payload = json!({"sleep_ms": 700, "touch": touched});
        let accepted = stand
            .invoke("probe", "Event", payload.to_string().into_bytes())
            .await;
        assert_eq!(accepted.status, 202);
    }
    // Reserved at 1: the second is throttled, kept, and run once the first is done.
    let runs = lines(&touched, 2).await;
    assert_eq!(runs.len(), 2, "both ran");
    let at: Vec<u128> = runs.iter().filter_map(|l| l.parse().ok()).collect();
    assert!(at[1] - at[0] >= 700, "one after the other: {at:?}");
    assert!(!stand.dir.join("state/probe-failures.jsonl").exists());
}

#[tokio::test]
async fn with_an_sqs_endpoint_failure_records_go_to_the_queue() {
    let moto = testkit::Moto::start().await.expect("moto");
    let endpoint = moto.endpoint();
    let stand = start(&asynchronous(""), &[("AWS_ENDPOINT_URL", &endpoint)]).await;
    let payload = json!({"fail": true});
    let accepted = stand
        .invoke("probe", "Event", payload.to_string().into_bytes())
        .await;
    assert_eq!(accepted.status, 202);
    let sqs = aws_sdk_sqs::Client::new(&moto.sdk_config().await);
    let deadline = Instant::now() + Duration::from_secs(20);
    let body = loop {
        let url = sqs
            .get_queue_url()
            .queue_name("probe-failures")
            .send()
            .await;
        if let Ok(url) = url {
            let received = sqs
                .receive_message()
                .queue_url(url.queue_url.unwrap_or_default())
                .wait_time_seconds(1)
                .send()
                .await
                .expect("receive");
            if let Some(message) = received.messages.unwrap_or_default().pop() {
                break message.body.unwrap_or_default();
            }
        }
        assert!(Instant::now() < deadline, "no record in the queue");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let record: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(record["requestContext"]["condition"], "RetriesExhausted");
    assert_eq!(record["requestPayload"], payload);
    assert!(
        !stand.dir.join("state").exists(),
        "no file when a queue is there"
    );
}

// ---------------------------------------------------------------------------------------
// Lambda authorizers (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-lambda-authorizer.html)

/// The probe behind `ANY /{proxy+}` (the API's default authorizer) and `GET /echo/{x}`
/// (`Auth: {Authorizer: NONE}`), and the probe as the authorizer `Sso`, whose
/// invocations are counted in `log`; `identity` is the authorizer's SAM `Identity`.
fn with_authorizer(identity: &str, log: &std::path::Path) -> String {
    let api = format!(
        "      Auth:\n        DefaultAuthorizer: Sso\n        Authorizers:\n          Sso:\n            FunctionArn: !GetAtt Auth.Arn\n            FunctionInvokeRole: arn:aws:iam::123456789012:role/invoke-auth\n            AuthorizerPayloadFormatVersion: \"2.0\"\n            EnableSimpleResponses: true\n{identity}"
    );
    let routes = format!(
        "{PROXY_ROUTE}        Open:\n          Type: HttpApi\n          Properties:\n            Method: GET\n            Path: /echo/{{x}}\n            Auth:\n              Authorizer: NONE\n"
    );
    let auth = format!(
        "      Environment:\n        Variables:\n          PROBE_AUTH_LOG: {}\n",
        log.display()
    );
    template(
        &api,
        &[
            function("Probe", "probe", &routes),
            function("Auth", "auth", &auth),
        ],
        "",
    )
}

/// How many times the authorizer was invoked.
fn invocations(log: &std::path::Path) -> usize {
    std::fs::read_to_string(log)
        .map(|text| text.lines().count())
        .unwrap_or(0)
}

impl Stand {
    async fn get_as(&self, path: &str, authorization: Option<&str>) -> Answer {
        let mut request = self.http.get(format!("{}{path}", self.api));
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        self.send(request).await
    }
}

#[tokio::test]
async fn an_identity_source_is_required_and_its_values_key_the_cache() {
    let log = scratch().with_extension("log");
    let identity = "            Identity:\n              Headers: [Authorization]\n              ReauthorizeEvery: 300\n";
    let stand = start(&with_authorizer(identity, &log), &[]).await;

    // No identity source: 401, and the authorizer is not invoked.
    assert_gateway(&stand.get_as("/echo", None).await, 401, "Unauthorized");
    assert_eq!(invocations(&log), 0);

    // The authorizer's context reaches the integration as `authorizer.lambda`.
    let answer = stand.get_as("/echo", Some("allow-ann")).await;
    assert_eq!(answer.status, 200);
    let event = answer.json();
    assert_eq!(
        event["requestContext"]["authorizer"],
        json!({"lambda": {"who": "ann"}})
    );
    assert_eq!(invocations(&log), 1);
    // The same value, on any route of the authorizer, within the TTL: cached.
    for path in ["/echo", "/echo?again=1", "/sleep/1"] {
        let answer = stand.get_as(path, Some("allow-ann")).await;
        assert_eq!(answer.status, 200, "{path}");
    }
    assert_eq!(invocations(&log), 1);
    // Another value: invoked again; a refusal is 403, cached like an acceptance.
    assert_eq!(stand.get_as("/echo", Some("allow-bob")).await.status, 200);
    assert_eq!(invocations(&log), 2);
    assert_gateway(&stand.get_as("/echo", Some("nope")).await, 403, "Forbidden");
    assert_gateway(&stand.get_as("/echo", Some("nope")).await, 403, "Forbidden");
    assert_eq!(invocations(&log), 3);

    // `Authorizer: NONE`: no authorizer, no identity source needed, no context.
    for authorization in [None, Some("nope")] {
        let answer = stand.get_as("/echo/open", authorization).await;
        assert_eq!(answer.status, 200, "{authorization:?}");
        let event = answer.json();
        assert!(
            event["requestContext"].get("authorizer").is_none(),
            "{event}"
        );
    }
    assert_eq!(invocations(&log), 3);
    let counters = stand.gateway.counters.snapshot();
    assert_eq!(counters["authorizer_invocations"], 3);
    let _ = std::fs::remove_file(&log);
}

#[tokio::test]
async fn without_identity_sources_or_with_ttl_0_the_authorizer_runs_on_every_request() {
    for (identity, anonymous_reaches_it) in [
        // SAM: no Headers, so no identity source; then API Gateway never caches.
        (
            "            Identity:\n              ReauthorizeEvery: 300\n",
            true,
        ),
        (
            "            Identity:\n              Headers: [Authorization]\n              ReauthorizeEvery: 0\n",
            false,
        ),
    ] {
        let log = scratch().with_extension("log");
        let stand = start(&with_authorizer(identity, &log), &[]).await;
        let anonymous = stand.get_as("/echo", None).await;
        if anonymous_reaches_it {
            assert_eq!(anonymous.status, 200, "{identity}");
            assert_eq!(
                anonymous.json()["requestContext"]["authorizer"],
                json!({"lambda": {}})
            );
            assert_eq!(invocations(&log), 1, "{identity}");
        } else {
            assert_gateway(&anonymous, 401, "Unauthorized");
            assert_eq!(invocations(&log), 0, "{identity}");
        }
        let before = invocations(&log);
        for _ in 0..3 {
            assert_eq!(stand.get_as("/echo", Some("allow-ann")).await.status, 200);
        }
        assert_eq!(invocations(&log), before + 3, "{identity}");
        let _ = std::fs::remove_file(&log);
    }
}

#[tokio::test]
async fn without_an_authorizer_events_carry_no_authorizer_context() {
    let stand = start(&reserved_probe(1), &[]).await;
    let answer = stand.get_as("/echo", Some("Bearer anything")).await;
    assert_eq!(answer.status, 200);
    let event = answer.json();
    assert!(
        event["requestContext"].get("authorizer").is_none(),
        "{event}"
    );
    // The header reaches the function as sent: checking it is the function's job.
    assert_eq!(event["headers"]["authorization"], "Bearer anything");
    let counters = stand.gateway.counters.snapshot();
    assert_eq!(counters["authorizer_invocations"], 0);
    assert_eq!(counters["integration_invocations"], 1);
}

#[tokio::test]
async fn an_unknown_authorizer_stops_the_start() {
    let log = scratch().with_extension("log");
    let text =
        with_authorizer("", &log).replace("DefaultAuthorizer: Sso", "DefaultAuthorizer: Other");
    let error = refused(&text, &[]);
    assert!(error.contains("DefaultAuthorizer Other"), "{error}");
}
